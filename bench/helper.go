//go:build linux

package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vnrpc/vnrpc/internal/benchkit"
	"github.com/vnrpc/vnrpc/internal/proc"
)

// registerHelper makes f the helper process called role: the suite
// starts it by re-executing the running binary (internal/proc), whose
// main calls proc.Main first. With ProfileEnv set, the helper writes a
// CPU profile of its whole run.
func registerHelper(role string, f func() error) {
	proc.Register(role, func() int {
		if dir := os.Getenv(ProfileEnv); dir != "" {
			stop, err := profile(dir, role)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench helper %s: %v\n", role, err)
				return 1
			}
			defer stop()
		}
		if err := f(); err != nil {
			fmt.Fprintf(os.Stderr, "bench helper %s: %v\n", role, err)
			return 1
		}
		return 0
	})
}

// ProfileEnv names a directory: when it is set, every helper process
// writes a CPU profile of its whole run there, as ROLE-PID.pprof (for
// `go tool pprof`), to see where a scenario's processes spend their time.
const ProfileEnv = "VNRPC_BENCH_CPUPROFILE"

func profile(dir, role string) (stop func(), err error) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", role, os.Getpid())))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// helper is a helper process: it prints lines on stdout, reads commands
// on stdin, and stops when stdin closes.
type helper struct {
	*proc.Child
	role string
}

// spawn starts the running executable as helper role with extra
// environment variables.
func spawn(role string, env ...string) (*helper, error) {
	c, err := proc.Helper(role, proc.Options{Env: env})
	if err != nil {
		return nil, err
	}
	return &helper{Child: c, role: role}, nil
}

// expect waits for a line starting with prefix and returns its fields.
func (p *helper) expect(prefix string, within time.Duration) ([]string, error) {
	return p.Expect(prefix, within)
}

func (p *helper) send(format string, a ...any) error { return p.Send(format, a...) }

// stop closes stdin and waits for the process, killing it after 10 s.
func (p *helper) stop() { _ = p.Stop(10 * time.Second) }

// tunedEnv is the environment setting of the tuned low-latency setup
// (README, "Low latency on a small host"): one runtime thread per process.
const tunedEnv = "GOMAXPROCS=1"

// procs stops every helper it holds.
type procs []*helper

func (ps *procs) spawn(role string, env ...string) (*helper, error) {
	p, err := spawn(role, env...)
	if err == nil {
		*ps = append(*ps, p)
	}
	return p, err
}

// stop stops them, the last started first. Its receiver is a pointer so
// that "defer ps.stop()" stops what was spawned after the defer: with a
// value receiver the deferred call saw the empty list, and every case's
// processes (spinning readers among them) ran on until the suite ended.
func (ps *procs) stop() {
	for i := len(*ps) - 1; i >= 0; i-- {
		(*ps)[i].stop()
	}
	*ps = nil
}

// waitStdin blocks until stdin closes (a helper's parent is done with it).
func waitStdin() { _, _ = io.Copy(io.Discard, os.Stdin) }

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The kit's pieces, by their short names here.
var (
	pace     = benchkit.Pace
	nanotime = benchkit.Nanotime
)

// Hist is the kit's histogram.
type Hist = benchkit.Hist

// NewHist and LoadHist make histograms.
var (
	NewHist  = benchkit.NewHist
	LoadHist = benchkit.LoadHist
)

// curve is the quantiles drawn in the percentile charts.
var curve = []float64{0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// fill sets r's count, percentiles and curve from h.
func fill(h *Hist, r *Result) {
	r.Count = h.Count()
	r.P50, r.P90, r.P99 = h.Quantile(50), h.Quantile(90), h.Quantile(99)
	r.P999, r.P9999, r.Max = h.Quantile(99.9), h.Quantile(99.99), h.Max()
	r.Percentiles = r.Percentiles[:0]
	for _, q := range curve {
		r.Percentiles = append(r.Percentiles, Point{Q: q, Ns: h.Quantile(q)})
	}
}

// The helpers' messages are typed: a helper reports with one line, a word
// and a JSON object (say), which the suite decodes into the same struct
// (expectMsg); a line that does not decode is an error, not a zero.

// say prints one message: word, then v as JSON.
func say(word string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // v is one of this package's structs of numbers: cannot happen
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", word, err)
		return
	}
	fmt.Println(word, string(b))
}

// expectMsg waits for the message word and decodes it into v.
func (p *helper) expectMsg(word string, within time.Duration, v any) error {
	l, err := p.Until(within, fmt.Sprintf("the %q message", word), func(l string) bool {
		return strings.HasPrefix(l, word+" {")
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(l, word+" ")), v); err != nil {
		return fmt.Errorf("bench: helper %s: message %q: %w", p.role, l, err)
	}
	return nil
}

// envReader reads a helper's settings from its environment; the first
// missing or malformed one is its error.
type envReader struct{ err error }

func (e *envReader) fail(name string, err error) {
	if e.err == nil {
		e.err = fmt.Errorf("bench helper setting %s=%q: %w", name, os.Getenv(name), err)
	}
}

// int reads a required integer.
func (e *envReader) int(name string) int64 {
	v, err := strconv.ParseInt(os.Getenv(name), 10, 64)
	if err != nil {
		e.fail(name, err)
	}
	return v
}

// intOr reads an integer that may be unset (def).
func (e *envReader) intOr(name string, def int64) int64 {
	if os.Getenv(name) == "" {
		return def
	}
	return e.int(name)
}

// eachRun reads a helper's commands "run N ARG" from stdin and calls f
// for each, until stdin closes or f fails. Any other line is an error.
func eachRun(f func(n int, arg string) error) error {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) != 3 || w[0] != "run" {
			return fmt.Errorf("bench helper: command %q: want \"run N ARG\"", sc.Text())
		}
		n, err := strconv.Atoi(w[1])
		if err != nil {
			return fmt.Errorf("bench helper: command %q: %w", sc.Text(), err)
		}
		if err := f(n, w[2]); err != nil {
			return err
		}
	}
	return sc.Err()
}
