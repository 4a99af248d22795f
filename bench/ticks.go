//go:build linux

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/internal/benchkit"
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/rpcservice"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
	"github.com/vnrpc/vnrpc/shm"
)

func init() {
	register(Scenario{Name: "ticks", Desc: "ticks end to end, from the sim gateway's OnTick on the server to a tick handler in client processes (local spin, local block, tcp; 1 and 4 clients; spin and block tuned with GOMAXPROCS=1 per process; spin with a busy-polling server feed at 20 k/s, with the bare ring and the host's spinner floor under it) beside ZeroMQ PUB/SUB over ipc and tcp",
		Units: func(quick bool) int { return len(tickCases(quick)) + 4 }, Run: runTicks})
	register(Scenario{Name: "lossless", Desc: "the highest tick rate 4 client processes receive with no gap (a short sweep), with the defaults and tuned for throughput (GOMAXPROCS=1, GOGC=400, GODEBUG=madvdontneed=0 in every process)",
		Units: func(quick bool) int { return 2 * len(losslessRates(quick)) }, Run: runLossless})
	register(Scenario{Name: "fanout", Desc: "the server's publish cost per event with 1, 16 and 64 blocking ring readers attached",
		Units: func(quick bool) int { return len(fanoutReaders(quick)) }, Run: runFanout})
	registerHelper("tick-server", tickServer)
	registerHelper("tick-client", tickClient)
	registerHelper("zmq-pub", zmqPub)
	registerHelper("zmq-sub", zmqSub)
	registerHelper("ring-readers", ringReaders)
}

type tickCase struct {
	transport, wait string
	clients         int
	queued          bool // the client's handler is queued (Register), not a tap
	tuned           bool // GOMAXPROCS=1 in the server and the client (README, "Low latency")
	hot             bool // the server's feed busy-polls: ticks at hotRate, evenly spaced (implies tuned)
}

func tickCases(quick bool) []tickCase {
	clients := []int{1, 4}
	if quick {
		clients = []int{1}
	}
	var out []tickCase
	for _, c := range []tickCase{{transport: "local", wait: "spin"}, {transport: "local", wait: "block"},
		{transport: "tcp", wait: "block"}} {
		for _, n := range clients {
			c.clients = n
			out = append(out, c)
		}
	}
	if !quick { // what the event engine's dispatcher adds: a queued handler
		out = append(out, tickCase{transport: "local", wait: "block", clients: 1, queued: true})
	}
	return append(out, tickCase{transport: "local", wait: "spin", clients: 1, tuned: true},
		tickCase{transport: "local", wait: "block", clients: 1, tuned: true},
		tickCase{transport: "local", wait: "spin", clients: 1, tuned: true, hot: true})
}

const tickRate = 1000 // ticks per second in the latency runs

// hotRate is the hot case's rate: a tick every 50 µs from a server whose
// feed loop spins between them, as a busy-polling (kernel-bypass) feed
// handler's does, so the server's path runs with warm caches instead of
// after a vCPU halt.
const hotRate = 20_000

func tickCount(quick bool) (n, warm int) {
	if quick {
		return 600, 100
	}
	return 6000, 500
}

// hotCount is the hot case's: 6 s of ticks, the first 2 s discarded (n
// counts the warm-up, as tickCount's does). A short
// run is at the mercy of the system's start-up (the helpers just started,
// the previous case's processes exiting, each new process's heap growing
// into fresh pages): in 1.3 s runs after 0.1 s of warm-up the p99 was
// 8–18 µs, after 2 s 3–4 µs.
func hotCount(quick bool) (n, warm int) {
	if quick {
		return 2400, 400
	}
	return 6 * hotRate, 2 * hotRate
}

// monotonic is the sim's clock here: ticks carry CLOCK_MONOTONIC.
func monotonic() time.Time { return time.Unix(0, ring.Nanotime()) }

// paceCoarse calls f n times at rate per second on a 1 ms ticker: the
// pacer must not take a core the readers need.
func paceCoarse(n int, rate float64, f func()) {
	benchkit.Pace(n, rate, benchkit.Ticker, func(int, int64) { f() })
}

// paceSpin calls f n times at rate per second, evenly spaced, spinning
// on the clock in between with runtime.Gosched: it takes a core.
func paceSpin(n int, rate float64, f func()) {
	benchkit.Pace(n, rate, benchkit.Yield, func(int, int64) { f() })
}

// tickRun is one server with its clients.
type tickRun struct {
	ps      procs
	srv     *helper
	clients []*helper
	hists   []string

	// CPU time of the last run: the server's while it stepped, the
	// clients' (summed) from their start to their last tick.
	srvCPU, cliCPU time.Duration
	// delivered is how long the last run took from the server's first
	// step to the last client's last tick (0 if a client missed ticks).
	delivered time.Duration
}

// startTicks starts a tick server and its clients; env is added to each
// process's environment.
func startTicks(e *Env, transport, wait string, queued bool, clients, n, warm int, env ...string) (*tickRun, error) {
	t := &tickRun{}
	dir, err := os.MkdirTemp(e.Dir, "ticks")
	if err != nil {
		return nil, err
	}
	if t.srv, err = t.ps.spawn("tick-server", append([]string{"VNRPC_DIR=" + dir}, env...)...); err != nil {
		return t, err
	}
	ready, err := t.srv.expect("ready", 30*time.Second)
	if err != nil {
		return t, err
	}
	addr := ready[1]
	if transport == "tcp" {
		addr = ready[2]
	}
	for i := range clients {
		out := filepath.Join(dir, fmt.Sprintf("client-%d.hist", i))
		c, err := t.ps.spawn("tick-client", append([]string{"VNRPC_ADDR=" + addr, "VNRPC_TRANSPORT=" + transport,
			"VNRPC_WAIT=" + wait, "VNRPC_N=" + strconv.Itoa(n), "VNRPC_WARM=" + strconv.Itoa(warm), "VNRPC_OUT=" + out,
			"VNRPC_QUEUED=" + strconv.FormatBool(queued)}, env...)...)
		if err != nil {
			return t, err
		}
		f, err := c.expect("ready", 30*time.Second)
		if err != nil {
			return t, err
		}
		if f[1] != transport {
			return t, fmt.Errorf("client connected over %s, want %s", f[1], transport)
		}
		t.clients = append(t.clients, c)
		t.hists = append(t.hists, out)
	}
	return t, nil
}

// run sends n ticks at rate and collects the clients' histograms.
func (t *tickRun) run(n int, rate float64) (h *Hist, received int64, lost uint64, elapsed time.Duration, err error) {
	start := time.Now()
	if err := t.srv.send("run %d %g", n, rate); err != nil {
		return nil, 0, 0, 0, err
	}
	var sent tickSent
	if err := t.srv.expectMsg("sent", 10*time.Minute, &sent); err != nil {
		return nil, 0, 0, 0, err
	}
	elapsed = time.Since(start)
	t.srvCPU, t.cliCPU, t.delivered = time.Duration(sent.CPU), 0, 0
	first, last := sent.Start, int64(0) // CLOCK_MONOTONIC, the same in every process
	complete := true
	h = NewHist()
	for i, c := range t.clients {
		_ = c.CloseStdin()
		var d tickDone
		if err := c.expectMsg("done", 60*time.Second, &d); err != nil {
			return nil, 0, 0, 0, err
		}
		received += d.Received
		lost += d.Lost
		t.cliCPU += time.Duration(d.CPU)
		complete = complete && d.LastAt > 0
		last = max(last, d.LastAt)
		ch, err := LoadHist(t.hists[i])
		if err != nil {
			return nil, 0, 0, 0, err
		}
		h.Merge(ch)
	}
	if complete && first > 0 && last > first {
		t.delivered = time.Duration(last - first)
	}
	return h, received, lost, elapsed, nil
}

func runTicks(ctx context.Context, e *Env) ([]Result, error) {
	n, warm := tickCount(e.Quick)
	paced := fmt.Sprintf("paced@%d/s", tickRate)
	var out []Result
	for _, c := range tickCases(e.Quick) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var env []string
		if c.tuned {
			env = []string{tunedEnv}
		}
		rate, cn, cwarm, mode := float64(tickRate), n, warm, paced
		if c.hot {
			env = append(env, "VNRPC_PACE=spin")
			cn, cwarm = hotCount(e.Quick)
			rate, mode = hotRate, fmt.Sprintf("hot@%d/s", hotRate)
		}
		t, err := startTicks(e, c.transport, c.wait, c.queued, c.clients, cn, cwarm, env...)
		if err != nil {
			t.ps.stop()
			return out, err
		}
		h, _, lost, elapsed, err := t.run(cn, rate)
		t.ps.stop()
		if err != nil {
			return out, fmt.Errorf("ticks %s/%s: %w", c.transport, c.wait, err)
		}
		r := Result{Scenario: "ticks", Subject: fmt.Sprintf("tick-%s-%s", c.transport, c.wait), Size: 0,
			Peers: c.clients, Mode: mode, Rate: float64(cn) / elapsed.Seconds(), Lost: lost,
			Note: "the sim gateway's OnTick on the server to a tap handler in each client's engine"}
		if c.queued {
			r.Subject += "-queued"
			r.Note = "the sim gateway's OnTick on the server to a queued handler (after the dispatcher's wake-up)"
		}
		switch {
		case c.hot:
			r.Subject += "-hot"
			r.Note += "; GOMAXPROCS=1 in the server and the client; the server's feed loop spins between ticks"
		case c.tuned:
			r.Subject += "-tuned"
			r.Note += "; GOMAXPROCS=1 in the server and the client"
		}
		fill(h, &r)
		out = append(out, r)
		e.Step()
	}
	// The floors under the hot case, with its threads and pacing.
	hn, hwarm := hotCount(e.Quick)
	r, err := ringHot(e, hn, hwarm)
	if err != nil {
		return out, fmt.Errorf("ring-spin-hot baseline: %w", err)
	}
	out = append(out, r)
	e.Step()
	if r, err = spinFloor(e, time.Duration(hn-hwarm)*time.Second/hotRate); err != nil {
		return out, fmt.Errorf("host-spin-floor baseline: %w", err)
	}
	out = append(out, r)
	e.Step()
	for _, tr := range []string{"ipc", "tcp"} {
		r, err := zmqTicks(e, tr, n, warm)
		if err != nil {
			return out, fmt.Errorf("zmq baseline: %w", err)
		}
		r.Mode = paced
		out = append(out, r)
		e.Step()
	}
	return out, nil
}

func losslessRates(quick bool) []float64 {
	if quick {
		return []float64{20_000}
	}
	return []float64{25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 1_500_000}
}

// throughputEnv is the setting "Low latency on a small host" gives for
// high tick rates: one P per process, the collector run less often, and
// freed heap pages returned lazily (reused without a page fault).
var throughputEnv = []string{tunedEnv, "GOGC=400", "GODEBUG=madvdontneed=0"}

// losslessSample: the sweep's clients time every 8th tick. The latency
// of a sweep is a by-product (how far behind the clients run); a clock
// read and a histogram entry per tick were 6 % of a client's CPU, which
// the product does not spend.
const losslessSample = "VNRPC_SAMPLE=8"

// runLossless sweeps with the defaults, then with throughputEnv in every
// process.
func runLossless(ctx context.Context, e *Env) ([]Result, error) {
	var out []Result
	for _, c := range []struct {
		subject string
		env     []string
	}{{"tick-local-block", nil}, {"tick-local-block-tuned", throughputEnv}} {
		r, err := losslessSweep(ctx, e, c.subject, c.env)
		if err != nil {
			return out, err
		}
		if c.env != nil {
			r.Note += "; " + strings.Join(c.env, " ") + " in every process"
		}
		out = append(out, r)
	}
	return out, nil
}

func losslessSweep(ctx context.Context, e *Env, subject string, env []string) (Result, error) {
	best := Result{Scenario: "lossless", Subject: subject, Peers: 4, Mode: "sweep", Note: "no rate was lossless"}
	for _, rate := range losslessRates(e.Quick) {
		if err := ctx.Err(); err != nil {
			return best, err
		}
		n := int(rate / 2) // half a second
		t, err := startTicks(e, "local", "block", false, 4, n, 0, append([]string{losslessSample}, env...)...)
		if err != nil {
			t.ps.stop()
			return best, err
		}
		h, received, lost, elapsed, err := t.run(n, rate)
		t.ps.stop()
		e.Step()
		if err != nil {
			return best, err
		}
		// The rate every client kept up with: n ticks from the server's
		// first step to the last client's last tick (the ring lets clients
		// finish after the server; the server's own pace is logged).
		achieved := float64(n) / elapsed.Seconds()
		if t.delivered > 0 {
			achieved = float64(n) / t.delivered.Seconds()
		}
		// What bounds the rate on a small host: the CPU a tick costs the
		// server and each client, against the CPUs there are.
		srvUs, cliUs := t.srvCPU.Seconds()*1e6/float64(n), t.cliCPU.Seconds()*1e6/float64(4*n)
		cpu := fmt.Sprintf("CPU per tick: server %.2f µs, each client %.2f µs (%.2f µs in all: %.0f k/s fills %d CPUs)",
			srvUs, cliUs, srvUs+4*cliUs, float64(runtime.NumCPU())/(srvUs+4*cliUs)*1e3, runtime.NumCPU())
		e.Logf("lossless %s: asked %.0f/s, delivered %.0f/s (the server stepped at %.0f/s), received %d of %d, lost %d; %s",
			subject, rate, achieved, float64(n)/elapsed.Seconds(), received, 4*n, lost, cpu)
		if lost > 0 || received < int64(4*n) {
			break
		}
		if achieved > best.Rate {
			best = Result{Scenario: "lossless", Subject: subject, Peers: 4, Mode: "sweep", Rate: achieved,
				Note: fmt.Sprintf("asked %.0f/s; %s", rate, cpu)}
			fill(h, &best)
		}
		if achieved < 0.8*rate {
			best.Note += "; the server saturated"
			break
		}
	}
	return best, nil
}

// tickServer: the sim gateway with manual steps and the RPC service;
// "run N RATE" steps N times at RATE per second and prints "sent". With
// VNRPC_PACE=spin the steps are evenly spaced by a loop that spins
// between them (yielding to the process's other goroutines).
func tickServer() error {
	var gw *sim.Gateway
	me, err := simService(os.Getenv("VNRPC_DIR"), func(ev *engine.EventEngine, name string) engine.Gateway {
		gw = sim.NewGateway(ev, name, sim.Options{Clock: monotonic})
		return gw
	})
	if me != nil {
		defer me.Close()
	}
	if err != nil {
		return err
	}
	return eachRun(func(n int, arg string) error {
		rate, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return fmt.Errorf("tick-server: rate %q: %w", arg, err)
		}
		cpu, start := cpuTime(), ring.Nanotime()
		if os.Getenv("VNRPC_PACE") == "spin" {
			paceSpin(n, rate, func() { _ = gw.Step() })
		} else {
			paceCoarse(n, rate, func() { _ = gw.Step() })
		}
		say("sent", tickSent{CPU: int64(cpuTime() - cpu), Start: start})
		return nil
	})
}

// simService starts a main engine with a sim gateway built by factory
// (manual steps, rb2601.SHFE subscribed) and the RPC service in dir, on a
// private socket and LAN ports, and prints "ready SOCKET CALLS". The
// returned engine is to be closed, also with an error.
func simService(dir string, factory engine.GatewayFactory) (*engine.MainEngine, error) {
	q := slog.New(slog.NewTextHandler(io.Discard, nil))
	me := engine.NewMainEngine(nil, q)
	if _, err := me.AddGateway(factory, sim.DefaultName); err != nil {
		return me, err
	}
	if err := me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "seed": 1.0, "tick_rate": 0.0,
		"capital": 1e12}, sim.DefaultName); err != nil {
		return me, err
	}
	if err := me.Subscribe(engine.SubscribeRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, sim.DefaultName); err != nil {
		return me, err
	}
	st := rpcservice.Setting{SocketPath: filepath.Join(dir, "sock", "rpc.sock"), SegmentDir: dir, RingMB: 64,
		RepAddress: "tcp://127.0.0.1:*", PubAddress: "tcp://127.0.0.1:*"}
	var env envReader
	st.CallPollUs = int(env.intOr("VNRPC_SERVER_POLL_US", 0))
	if env.err != nil {
		return me, env.err
	}
	app, err := me.AddApp(rpcservice.Factory(rpcservice.Options{DataDir: dir, Setting: &st, Logger: q}))
	if err != nil {
		return me, err
	}
	svc := app.(*rpcservice.Engine)
	if err := svc.Start(); err != nil {
		return me, err
	}
	sock, calls, _ := svc.Server().Addrs()
	fmt.Println("ready", sock, calls)
	return me, nil
}

// awaitJoin works around ZeroMQ's slow joiner: it has the publisher send
// "hello" until the helper watching the subscriber reports "joined".
func awaitJoin(pub, watcher *helper) error {
	for i := 0; i <= 100; i++ {
		if err := pub.send("hello"); err != nil {
			return err
		}
		if _, err := watcher.expect("joined", 200*time.Millisecond); err == nil {
			return nil
		}
	}
	return fmt.Errorf("the subscriber never joined")
}

// benchRing creates a ring segment in dir, populated as the RPC server's
// is, and its writer; done unlinks and closes it.
func benchRing(dir, prefix string) (name string, w *ring.Writer, done func(), err error) {
	name = shm.Name(prefix, shm.NewEpoch())
	seg, err := shm.Create(name, ring.Size(16<<20), shm.Options{Dir: dir, Populate: true})
	if err != nil {
		return "", nil, nil, err
	}
	done = func() { _ = seg.Unlink(); _ = seg.Close() }
	if w, err = ring.NewWriter(seg.Bytes()); err != nil {
		done()
		return "", nil, nil, err
	}
	return name, w, done, nil
}

// tickSent is the tick server's report of a run: its CPU time (ns) and
// the CLOCK_MONOTONIC time of its first step.
type tickSent struct{ CPU, Start int64 }

// tickDone is a tick client's report: ticks received, known lost, its CPU
// time (ns) and when the last wanted tick came (CLOCK_MONOTONIC; 0 if it
// never did).
type tickDone struct {
	Received int64
	Lost     uint64
	CPU      int64
	LastAt   int64
}

// tickClient: a main engine with the RPC gateway; a tap on ticks records
// their latency after VNRPC_WARM; when stdin closes it waits for VNRPC_N
// ticks (up to 10 s), saves the histogram and prints "done RECEIVED LOST".
func tickClient() error {
	q := slog.New(slog.NewTextHandler(io.Discard, nil))
	me := engine.NewMainEngine(nil, q)
	defer me.Close()
	var env envReader
	warm, want, sample := env.int("VNRPC_WARM"), env.int("VNRPC_N"), max(env.intOr("VNRPC_SAMPLE", 1), 1)
	if env.err != nil {
		return env.err
	}
	h := NewHist()
	var received atomic.Int64
	var seen int64             // received, counted without an atomic so that sampling is decided before the clock read; one goroutine calls onTick (the gateway's event reader, or the dispatcher)
	var lastAt atomic.Int64    // when the want-th tick came
	all := make(chan struct{}) // closed then: the main goroutine waits on it, with no timer waking it meanwhile
	onTick := func(ev engine.Event) {
		if seen++; seen > warm && seen%sample == 0 {
			h.Record(ring.Nanotime() - ev.Data.(*engine.Tick).Datetime.UnixNano())
		}
		if received.Add(1) == want {
			lastAt.Store(ring.Nanotime())
			close(all)
		}
	}
	if os.Getenv("VNRPC_QUEUED") == "true" {
		me.EventEngine().Register(engine.EventTick, onTick)
	} else {
		me.EventEngine().RegisterTap(engine.EventTick, onTick)
	}
	gwi, err := me.AddGateway(rpcgateway.Factory(rpcgateway.Options{Logger: q}), "")
	if err != nil {
		return err
	}
	gw := gwi.(*rpcgateway.Gateway)
	if err := me.Connect(engine.Setting{rpcgateway.KeyAddress: os.Getenv("VNRPC_ADDR"),
		rpcgateway.KeyTransport: os.Getenv("VNRPC_TRANSPORT"), rpcgateway.KeyWait: os.Getenv("VNRPC_WAIT")}, rpcgateway.DefaultName); err != nil {
		return err
	}
	for deadline := time.Now().Add(20 * time.Second); gw.Client() == nil || len(me.AllContracts()) == 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("not connected in 20 s")
		}
		time.Sleep(time.Millisecond)
	}
	tr, _ := gw.Transport()
	fmt.Println("ready", tr)
	cpu := cpuTime()
	waitStdin()
	select {
	case <-all:
	case <-time.After(10 * time.Second): // some were lost: report how many came
	}
	if err := h.Save(os.Getenv("VNRPC_OUT")); err != nil {
		return err
	}
	say("done", tickDone{Received: received.Load(), Lost: gw.Client().Status().Lost, CPU: int64(cpuTime() - cpu),
		LastAt: lastAt.Load()})
	return nil
}

// zmqTicks: the same tick, encoded the same way, through ZeroMQ PUB/SUB.
func zmqTicks(e *Env, transport string, n, warm int) (Result, error) {
	var ps procs
	defer ps.stop()
	dir, err := os.MkdirTemp(e.Dir, "zmq")
	if err != nil {
		return Result{}, err
	}
	pub, err := ps.spawn("zmq-pub", "VNRPC_DIR="+dir, "VNRPC_TRANSPORT="+transport)
	if err != nil {
		return Result{}, err
	}
	f, err := pub.expect("ready", 30*time.Second)
	if err != nil {
		return Result{}, err
	}
	out := filepath.Join(dir, "sub.hist")
	sub, err := ps.spawn("zmq-sub", "VNRPC_ADDR="+f[1], "VNRPC_N="+strconv.Itoa(n), "VNRPC_WARM="+strconv.Itoa(warm),
		"VNRPC_OUT="+out)
	if err != nil {
		return Result{}, err
	}
	if _, err := sub.expect("ready", 30*time.Second); err != nil {
		return Result{}, err
	}
	if err := awaitJoin(pub, sub); err != nil {
		return Result{}, err
	}
	start := time.Now()
	if err := pub.send("run %d", n); err != nil {
		return Result{}, err
	}
	if err := pub.expectMsg("sent", 10*time.Minute, &struct{}{}); err != nil {
		return Result{}, err
	}
	elapsed := time.Since(start)
	if err := sub.expectMsg("done", 60*time.Second, &readerDone{}); err != nil {
		return Result{}, err
	}
	h, err := LoadHist(out)
	if err != nil {
		return Result{}, err
	}
	r := Result{Scenario: "ticks", Subject: "zmq-pubsub-" + transport, Baseline: true, Peers: 1,
		Rate: float64(n) / elapsed.Seconds(), Note: "the same encoded tick, decoded the same way"}
	fill(h, &r)
	return r, nil
}

func zmqPub() error {
	pub, err := zmq.NewSocket(zmq.PUB)
	if err != nil {
		return err
	}
	defer pub.Close()
	_ = pub.SetSndhwm(0)
	addr := "tcp://127.0.0.1:*"
	if os.Getenv("VNRPC_TRANSPORT") == "ipc" {
		addr = "ipc://" + filepath.Join(os.Getenv("VNRPC_DIR"), "pub.ipc")
	}
	if err := pub.Bind(addr); err != nil {
		return err
	}
	ep, _ := pub.GetLastEndpoint()
	fmt.Println("ready", ep)
	tk := engine.Tick{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Name: "rebar", LastPrice: 3200}
	var buf []byte
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "hello":
			_, _ = pub.SendBytes([]byte("hello"), 0)
		case len(f) == 2 && f[0] == "run":
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return fmt.Errorf("zmq-pub: run %q: %w", f[1], err)
			}
			paceCoarse(n, tickRate, func() {
				tk.Datetime = monotonic()
				buf, _ = wire.AppendTick(buf[:0], &tk)
				_, _ = pub.SendBytes(buf, 0)
			})
			say("sent", struct{}{})
		default:
			return fmt.Errorf("zmq-pub: command %q: want \"hello\" or \"run N\"", sc.Text())
		}
	}
	return sc.Err()
}

func zmqSub() error {
	sub, err := zmq.NewSocket(zmq.SUB)
	if err != nil {
		return err
	}
	defer sub.Close()
	_ = sub.SetRcvhwm(0)
	_ = sub.SetSubscribe("")
	if err := sub.Connect(os.Getenv("VNRPC_ADDR")); err != nil {
		return err
	}
	var env envReader
	n, warm := int(env.int("VNRPC_N")), int(env.int("VNRPC_WARM"))
	if env.err != nil {
		return env.err
	}
	fmt.Println("ready")
	h := NewHist()
	var tk engine.Tick
	joined := false
	for i := 0; i < n; {
		msg, err := sub.RecvBytes(0)
		if err != nil {
			return err
		}
		if string(msg) == "hello" {
			if !joined {
				joined = true
				fmt.Println("joined")
			}
			continue
		}
		if err := wire.DecodeTickFast(msg, &tk); err != nil {
			return err
		}
		out := new(engine.Tick) // as the gateway does: a fresh tick per event
		*out = tk
		if i >= warm {
			h.Record(ring.Nanotime() - out.Datetime.UnixNano())
		}
		i++
	}
	if err := h.Save(os.Getenv("VNRPC_OUT")); err != nil {
		return err
	}
	say("done", readerDone{})
	waitStdin()
	return nil
}

func fanoutReaders(quick bool) []int {
	if quick {
		return []int{1, 16}
	}
	return []int{1, 16, 64}
}

// runFanout measures what one publish costs the server (ring write and
// reader wake-up) with k blocking readers in 4 reader processes.
func runFanout(ctx context.Context, e *Env) ([]Result, error) {
	var out []Result
	n := 20000
	if e.Quick {
		n = 5000
	}
	for _, k := range fanoutReaders(e.Quick) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r, err := fanoutOnce(e, k, n)
		if err != nil {
			return out, fmt.Errorf("fanout %d: %w", k, err)
		}
		out = append(out, r)
		e.Step()
	}
	return out, nil
}

func fanoutOnce(e *Env, k, n int) (Result, error) {
	name, w, done, err := benchRing(e.Dir, "vnrpc-bench-fan")
	if err != nil {
		return Result{}, err
	}
	defer done()
	var ps procs
	defer ps.stop()
	procsN := min(k, 4)
	for i := range procsN {
		per := k / procsN
		if i < k%procsN {
			per++
		}
		p, err := ps.spawn("ring-readers", "VNRPC_SEG="+name, "VNRPC_DIR="+e.Dir, "VNRPC_K="+strconv.Itoa(per))
		if err != nil {
			return Result{}, err
		}
		if _, err := p.expect("ready", 30*time.Second); err != nil {
			return Result{}, err
		}
	}
	payload := make([]byte, 64-ring.RecordHeader)
	h := NewHist()
	start := time.Now()
	paceCoarse(n, 10_000, func() {
		t0 := nanotime()
		_, _ = w.Write(1, payload)
		h.Record(nanotime() - t0)
	})
	elapsed := time.Since(start)
	r := Result{Scenario: "fanout", Subject: "ring-publish", Size: 64, Peers: k, Mode: "paced@10000/s",
		Rate: float64(n) / elapsed.Seconds(), Note: "cost of one Write on the server, blocking readers"}
	fill(h, &r)
	return r, nil
}

// ringReaders runs VNRPC_K blocking readers until stdin closes.
func ringReaders() error {
	seg, err := shm.Open(os.Getenv("VNRPC_SEG"), shm.Options{Dir: os.Getenv("VNRPC_DIR"), Populate: true})
	if err != nil {
		return err
	}
	defer seg.Close()
	var env envReader
	k := env.int("VNRPC_K")
	if env.err != nil {
		return env.err
	}
	var rds []*ring.Reader
	var wg sync.WaitGroup
	defer wg.Wait() // before the segment is unmapped
	for range k {
		rd, err := ring.NewReader(seg.Bytes(), ring.ReaderOptions{Wait: ring.WaitBlock})
		if err != nil {
			return err
		}
		rds = append(rds, rd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 256)
			for {
				if _, err := rd.Next(buf); err != nil && !isLap(err) {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	waitStdin()
	for _, rd := range rds {
		_ = rd.Close()
	}
	wg.Wait()
	return nil
}

func isLap(err error) bool {
	var lap *ring.LapError
	return errors.As(err, &lap)
}
