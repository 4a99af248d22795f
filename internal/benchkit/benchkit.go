//go:build linux

// Package benchkit is the measuring kit every vnrpc benchmark uses: the
// suite behind vnrpc-bench (package bench) and the packages' go test
// benchmarks. Latencies go into HDR histograms (Hist); a go test
// benchmark reports their percentiles with Report, the suite writes them
// into its results. Closed and Pair measure calls, Pace paces work open
// loop, and the baselines every call measurement stands beside — a plain
// unix-socket echo and ZeroMQ REQ/REP — are here once: EchoServer,
// EchoCaller, RepServer and ReqCaller.
//
// To add a benchmark: a go test benchmark of one package's code goes
// beside that code and reports through Report; a path across processes
// with its baselines becomes a scenario of package bench.
package benchkit

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/vnrpc/vnrpc/ring"
)

// Nanotime is CLOCK_MONOTONIC in nanoseconds: the same clock in every
// process of the host, so a latency may start in one and end in another.
func Nanotime() int64 { return ring.Nanotime() }

// Reporter is what Report needs of a *testing.B.
type Reporter interface {
	ReportMetric(n float64, unit string)
}

// Report reports h's p50, p99, p99.9 and max (ns) to b, after its timed
// loop (testing.B's ResetTimer clears metrics reported before).
func Report(b Reporter, h *Hist) {
	b.ReportMetric(float64(h.Quantile(50)), "p50-ns")
	b.ReportMetric(float64(h.Quantile(99)), "p99-ns")
	b.ReportMetric(float64(h.Quantile(99.9)), "p999-ns")
	b.ReportMetric(float64(h.Max()), "max-ns")
}

// Closed makes n calls spread over `callers` goroutines, each calling in
// a closed loop after warm calls that are not recorded. It returns the
// latencies and the calls per second.
func Closed(callers, n, warm int, call func() error) (*Hist, float64, error) {
	per := max(n/callers, 1)
	hists := make([]*Hist, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range callers {
		hists[i] = NewHist()
		wg.Add(1)
		go func(h *Hist) {
			defer wg.Done()
			for j := range per + warm {
				t0 := Nanotime()
				if err := call(); err != nil {
					errs <- err
					return
				}
				if j >= warm {
					h.Record(Nanotime() - t0)
				}
			}
		}(hists[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, err
	}
	all := NewHist()
	for _, h := range hists {
		all.Merge(h)
	}
	return all, float64(callers*(per+warm)) / elapsed.Seconds(), nil
}

// Open makes n calls at rate per second from one goroutine, open loop
// (Pace): each latency runs from the call's intended start, so a stall
// counts for every call it delays. The first warm are not recorded.
func Open(n, warm int, rate float64, call func() error) (*Hist, error) {
	h := NewHist()
	var err error
	Pace(n+warm, rate, Spin, func(i int, due int64) {
		if err != nil {
			return
		}
		err = call()
		if i >= warm {
			h.Record(Nanotime() - due)
		}
	})
	return h, err
}

// Pair measures a and b, one caller each, closed loop, in blocks taken in
// turn (a b, b a, a b, …), each block after a short warm-up: both see the
// same host. On a shared 2-vCPU VM the cost of a wake-up drifts by up to
// 2× from one minute to the next, so the ratio of two measurements taken
// minutes apart measures the drift as much as the two paths. It returns
// each side's latencies and calls per second.
func Pair(n, warm, blocks int, a, b func() error) (ha, hb *Hist, rateA, rateB float64, err error) {
	per, bwarm := max(n/blocks, 1), max(warm/blocks, 50)
	ha, hb = NewHist(), NewHist()
	var ta, tb time.Duration
	run := func(call func() error, h *Hist, spent *time.Duration) error {
		for range bwarm {
			if err := call(); err != nil {
				return err
			}
		}
		start := time.Now()
		for range per {
			t0 := Nanotime()
			if err := call(); err != nil {
				return err
			}
			h.Record(Nanotime() - t0)
		}
		*spent += time.Since(start)
		return nil
	}
	for i := range blocks {
		first, second := func() error { return run(a, ha, &ta) }, func() error { return run(b, hb, &tb) }
		if i%2 == 1 {
			first, second = second, first
		}
		if err := first(); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("block %d: %w", i, err)
		}
		if err := second(); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("block %d: %w", i, err)
		}
	}
	return ha, hb, float64(per*blocks) / ta.Seconds(), float64(per*blocks) / tb.Seconds(), nil
}

// Wait says how Pace waits for the next call's time.
type Wait uint8

const (
	// Spin spins for gaps under 2 ms (sleeps are that coarse on small VMs)
	// and sleeps for longer ones: calls on time, for a core while it spins.
	Spin Wait = iota
	// Yield spins with runtime.Gosched between looks at the clock: on time,
	// and a process with GOMAXPROCS=1 still runs its other goroutines; it
	// takes a core.
	Yield
	// Ticker catches up on each tick of a 1 ms ticker: calls within a
	// millisecond of their time, in bursts, taking no core (when the
	// processes measured need both).
	Ticker
)

// Pace calls f n times at rate per second, open loop: call i is due at
// start + i/rate, and f gets that intended time (Nanotime) so that an
// open-loop latency can count from it.
func Pace(n int, rate float64, wait Wait, f func(i int, due int64)) {
	period := float64(time.Second) / rate
	start := Nanotime()
	dueAt := func(i int) int64 { return start + int64(float64(i)*period) }
	if wait == Ticker {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for i := 0; i < n; {
			<-t.C
			for now := Nanotime(); i < n && dueAt(i) <= now; i++ {
				f(i, dueAt(i))
			}
		}
		return
	}
	for i := range n {
		due := dueAt(i)
		for {
			d := due - Nanotime()
			if d <= 0 {
				break
			}
			switch {
			case wait == Yield:
				runtime.Gosched()
			case d > 2_000_000:
				time.Sleep(time.Duration(d - 1_000_000))
			}
		}
		f(i, due)
	}
}
