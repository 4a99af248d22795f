//go:build linux

// Package bench is vnrpc's latency benchmark suite, run by "vnrpc bench":
// every path (the ring, calls, ticks end to end) beside its baselines in
// the same run, latencies in HDR histograms, results as JSON, a Markdown
// report and charts. Every process a scenario needs is started by the
// suite (the running executable re-executed as a helper) and stopped after.
package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/vnrpc/vnrpc/shm"
)

// Result is one measured series: a subject or a baseline, at one size and
// peer count, in one mode.
type Result struct {
	Scenario string  `json:"scenario"`
	Subject  string  `json:"subject"`
	Baseline bool    `json:"baseline"`
	Size     int     `json:"size"`  // payload bytes
	Peers    int     `json:"peers"` // readers, callers or clients
	Mode     string  `json:"mode"`  // "closed", "open@10000/s" (measured from the intended send time) or "paced"
	Count    int64   `json:"count"`
	P50      int64   `json:"p50_ns"`
	P90      int64   `json:"p90_ns"`
	P99      int64   `json:"p99_ns"`
	P999     int64   `json:"p999_ns"`
	P9999    int64   `json:"p9999_ns"`
	Max      int64   `json:"max_ns"`
	Rate     float64 `json:"rate_per_s"`
	Lost     uint64  `json:"lost,omitempty"`
	Note     string  `json:"note,omitempty"`
	// Percentiles is the latency distribution for charts: quantile (0..100) -> ns.
	Percentiles []Point `json:"percentiles,omitempty"`
}

// Point is one point of a percentile curve.
type Point struct {
	Q  float64 `json:"q"`
	Ns int64   `json:"ns"`
}

// Key identifies a series across runs (for compare).
func (r Result) Key() string {
	return fmt.Sprintf("%s/%s/size=%d/peers=%d/%s", r.Scenario, r.Subject, r.Size, r.Peers, r.Mode)
}

// Env is what a scenario gets to run with.
type Env struct {
	Quick bool
	Dir   string // a private temporary directory
	// Step reports progress: one more unit of the scenario's Units done.
	Step func()
	log  func(format string, a ...any)
}

// Logf reports a line of progress detail.
func (e *Env) Logf(format string, a ...any) {
	if e.log != nil {
		e.log(format, a...)
	}
}

// Scenario is one benchmark with its baselines.
type Scenario struct {
	Name string
	Desc string
	// Units is how many Steps a run reports (for the progress bar).
	Units func(quick bool) int
	Run   func(ctx context.Context, e *Env) ([]Result, error)
}

var registry []Scenario

func register(s Scenario) { registry = append(registry, s) }

// Scenarios lists the scenarios in their run order.
func Scenarios() []Scenario {
	out := append([]Scenario(nil), registry...)
	order := map[string]int{"ring": 0, "calls": 1, "ticks": 2, "lossless": 3, "fanout": 4, "tick-to-order": 5}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Name] < order[out[j].Name] })
	return out
}

// Select returns the scenarios named in only (comma-separated; empty: all).
func Select(only string) ([]Scenario, error) {
	all := Scenarios()
	if only == "" {
		return all, nil
	}
	var out []Scenario
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, s := range all {
			if s.Name == name {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			var names []string
			for _, s := range all {
				names = append(names, s.Name)
			}
			return nil, fmt.Errorf("no scenario %q (have: %s)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// Machine describes where a run happened.
type Machine struct {
	CPU        string    `json:"cpu"`
	Cores      int       `json:"cores"`
	Kernel     string    `json:"kernel"`
	GoVersion  string    `json:"go"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	LoadBefore string    `json:"load_before"`
	Start      time.Time `json:"start"`
	Quick      bool      `json:"quick"`
}

// DescribeMachine reads the CPU model, kernel and load average.
func DescribeMachine(quick bool) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Start: time.Now().UTC(), Quick: quick}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadBefore = strings.Join(f[:3], " ")
		}
	}
	return m
}

// String is the machine line of a report.
func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, kernel %s, %s, GOMAXPROCS %d, load before %s", m.CPU, m.Cores, m.Kernel,
		m.GoVersion, m.GOMAXPROCS, m.LoadBefore)
}

// Report is a whole run: the machine and every result.
type Report struct {
	Machine Machine  `json:"machine"`
	Results []Result `json:"results"`
}

// Options select and report a run.
type Options struct {
	Quick bool
	Only  string // comma-separated scenario names; empty: all
	// Step is called after each unit of work, with the scenario's name
	// (progress bars); Logf receives detail lines. Both may be nil.
	Step func(scenario string)
	Logf func(format string, a ...any)
}

// Units is the total work of the selected scenarios (for a progress bar).
func Units(o Options) (int, error) {
	sel, err := Select(o.Only)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range sel {
		n += s.Units(o.Quick)
	}
	return n, nil
}

// Run runs the selected scenarios in order. A scenario that fails ends
// the run with its error; the results so far are returned with it.
func Run(ctx context.Context, o Options) (Report, error) {
	rep := Report{Machine: DescribeMachine(o.Quick)}
	sel, err := Select(o.Only)
	if err != nil {
		return rep, err
	}
	dir, err := shm.MkdirTemp("vnrpc-bench") // memory-backed: rings and sockets, never written back to disk
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	for _, s := range sel {
		sdir, err := os.MkdirTemp(dir, s.Name)
		if err != nil {
			return rep, err
		}
		e := &Env{Quick: o.Quick, Dir: sdir, log: o.Logf, Step: func() {
			if o.Step != nil {
				o.Step(s.Name)
			}
		}}
		rs, err := s.Run(ctx, e)
		rep.Results = append(rep.Results, rs...)
		if err != nil {
			return rep, fmt.Errorf("bench %s: %w", s.Name, err)
		}
	}
	return rep, nil
}
