//go:build linux

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// The floors under the hot tick case (tick-local-spin-hot), measured in
// the same run with the same threads and pacing: what the bare ring
// gives, and what the host takes from any spinning thread.

func init() {
	registerHelper("ring-writer", ringWriter)
	registerHelper("spin-gaps", spinGaps)
}

// gapMin is the shortest stall spinGaps counts: a loop turn (a clock
// read) takes ~25 ns here, a cache miss ~0.1 µs.
const gapMin = 250 * time.Nanosecond

// ringHot: a writer process spinning between records at hotRate (as the
// hot case's server feed does) and a spinning reader process, each with
// GOMAXPROCS=1, on a ring populated up front, with tick-sized records.
func ringHot(e *Env, n, warm int) (Result, error) {
	var ps procs
	defer ps.stop()
	w, err := ps.spawn("ring-writer", "VNRPC_DIR="+e.Dir, tunedEnv)
	if err != nil {
		return Result{}, err
	}
	f, err := w.expect("ready", 30*time.Second)
	if err != nil {
		return Result{}, err
	}
	out := filepath.Join(e.Dir, "ring-hot.hist")
	rd, err := ps.spawn("ring-reader", "VNRPC_SEG="+f[1], "VNRPC_DIR="+e.Dir, "VNRPC_WAIT=spin",
		"VNRPC_N="+strconv.Itoa(n), "VNRPC_WARM="+strconv.Itoa(warm), "VNRPC_OUT="+out, tunedEnv)
	if err != nil {
		return Result{}, err
	}
	if _, err := rd.expect("ready", 30*time.Second); err != nil {
		return Result{}, err
	}
	start := time.Now()
	if err := w.send("run %d %d", n, hotRate); err != nil {
		return Result{}, err
	}
	if err := w.expectMsg("sent", 10*time.Minute, &struct{}{}); err != nil {
		return Result{}, err
	}
	elapsed := time.Since(start)
	var done readerDone
	if err := rd.expectMsg("done", 60*time.Second, &done); err != nil {
		return Result{}, err
	}
	h, err := LoadHist(out)
	if err != nil {
		return Result{}, err
	}
	r := Result{Scenario: "ticks", Subject: "ring-spin-hot", Baseline: true, Peers: 1,
		Mode: fmt.Sprintf("hot@%d/s", hotRate), Rate: float64(n) / elapsed.Seconds(),
		Note: "the bare ring under tick-local-spin-hot: a tick-sized record (" + f[2] + " B) from a writer spinning between records to a spinning reader, GOMAXPROCS=1 in both"}
	r.Lost = done.Lost
	fill(h, &r)
	return r, nil
}

// ringWriter creates a populated ring in VNRPC_DIR and prints "ready NAME
// SIZE"; for each "run N RATE" it writes N tick-sized records at RATE per
// second, spinning in between (paceSpin), and prints "sent".
func ringWriter() error {
	name, w, done, err := benchRing(os.Getenv("VNRPC_DIR"), "vnrpc-bench-hot")
	if err != nil {
		return err
	}
	defer done()
	tk := engine.Tick{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Name: "rebar",
		LastPrice: 3200, Datetime: time.Now()}
	payload, err := wire.AppendTick(nil, &tk)
	if err != nil {
		return err
	}
	fmt.Println("ready", name, len(payload)+ring.RecordHeader)
	return eachRun(func(n int, arg string) error {
		rate, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return fmt.Errorf("ring-writer: rate %q: %w", arg, err)
		}
		paceSpin(n, rate, func() { _, _ = w.Write(wire.TypeTick, payload) })
		say("sent", struct{}{})
		return nil
	})
}

// spinFloor runs two processes (the hot case's two spinners), each with
// GOMAXPROCS=1, spinning on the clock for d, and merges what they saw:
// the delay an event arriving at a random instant would meet from a
// spinning thread, because the thread was not running then (an
// interrupt, the hypervisor, another thread), that is, the rest of the
// stall it arrived in. No code of ours runs; it is the host's floor for
// any spinning reader.
func spinFloor(e *Env, d time.Duration) (Result, error) {
	var ps procs
	defer ps.stop()
	var outs []string
	for i := range 2 {
		out := filepath.Join(e.Dir, fmt.Sprintf("spin-gaps-%d.hist", i))
		p, err := ps.spawn("spin-gaps", "VNRPC_OUT="+out, "VNRPC_DUR="+d.String(), tunedEnv)
		if err != nil {
			return Result{}, err
		}
		if _, err := p.expect("ready", 30*time.Second); err != nil {
			return Result{}, err
		}
		outs = append(outs, out)
	}
	for _, p := range ps {
		if err := p.send("run 1 go"); err != nil {
			return Result{}, err
		}
	}
	h := NewHist()
	var gaps, lost float64
	for i, p := range ps {
		var done gapsDone
		if err := p.expectMsg("done", d+60*time.Second, &done); err != nil {
			return Result{}, err
		}
		gaps, lost = gaps+done.StallsPerSecond/2, lost+done.FractionLost/2
		ph, err := LoadHist(outs[i])
		if err != nil {
			return Result{}, err
		}
		h.Merge(ph)
	}
	r := Result{Scenario: "ticks", Subject: "host-spin-floor", Baseline: true, Peers: 1, Mode: ModeFloor,
		Note: fmt.Sprintf("two processes (GOMAXPROCS=1) spinning on the clock for %v each: per spinner %.0f stalls/s over %v, %.2f %% of its time not running; "+
			"the latency is the rest of the stall a randomly timed event meets (%v steps, under %v counted as 0)", d, gaps, gapMin, lost*100, spinStep, gapMin)}
	fill(h, &r)
	return r, nil
}

// spinStep is spinGaps's sampling step: a stall of g counts as g/spinStep
// events arriving during it, waiting g, g-spinStep, ... spinStep.
const spinStep = 10 * time.Nanosecond

// gapsDone is spinGaps's report: stalls per second, and the fraction of
// its time the spinner was not running.
type gapsDone struct{ StallsPerSecond, FractionLost float64 }

// spinGaps prints "ready"; on "run" it spins on the clock for VNRPC_DUR
// (yielding each turn, as a spinning ring reader with one P does while it
// waits), saves the delay distribution to VNRPC_OUT (see spinFloor) and
// reports "done" (gapsDone).
func spinGaps() error {
	d, err := time.ParseDuration(os.Getenv("VNRPC_DUR"))
	if err != nil {
		return err
	}
	fmt.Println("ready")
	return eachRun(func(int, string) error {
		gaps := make([]int64, 0, 1<<20) // allocated and zeroed before the clock starts
		start := ring.Nanotime()
		end, last := start+int64(d), start
		for last < end {
			now := ring.Nanotime()
			if g := now - last; g >= int64(gapMin) {
				if len(gaps) == cap(gaps) {
					return fmt.Errorf("spin-gaps: more than %d stalls in %v", cap(gaps), d)
				}
				gaps = append(gaps, g)
			}
			last = now
			runtime.Gosched()
		}
		total := last - start
		h := NewHist()
		var stalled int64
		for _, g := range gaps {
			stalled += g
			for v := g; v > 0; v -= int64(spinStep) {
				h.Record(v)
			}
		}
		h.RecordN(1, (total-stalled)/int64(spinStep))
		if err := h.Save(os.Getenv("VNRPC_OUT")); err != nil {
			return err
		}
		say("done", gapsDone{StallsPerSecond: float64(len(gaps)) / time.Duration(total).Seconds(),
			FractionLost: float64(stalled) / float64(total)})
		return nil
	})
}
