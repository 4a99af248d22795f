package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/bench"
)

// The test binary re-execs itself as the vnrpc command when this is set.
const childEnv = "VNRPC_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func vnrpc(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd
}

// The server process shows live ticks and the demo order flow, then stops
// cleanly on SIGTERM with exit status 0.
func TestServerProcessLiveTicksAndSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cmd := vnrpc(t, "server", "--tick-rate", "100", "--summary-interval", "200ms", "--demo",
		"--data-dir", dir, "--socket", dir+"/s/rpc.sock", "--no-lan")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(20 * time.Second)
	var ticking, traded bool
	for !(ticking && traded) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("server exited early")
			}
			if strings.Contains(l, "msg=summary") && !strings.Contains(l, "ticks/s=0 ") {
				ticking = true
			}
			if strings.Contains(l, "msg=summary") && !strings.Contains(l, "trades=0 ") {
				traded = true
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("no live ticks and demo trades within 20 s (ticking=%v traded=%v)", ticking, traded)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var stopped bool
	for l := range lines {
		stopped = stopped || strings.Contains(l, "server stopped")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if !stopped {
		t.Error("no \"server stopped\" line after SIGTERM")
	}
}

func TestBadFlagExitStatus(t *testing.T) {
	out, err := vnrpc(t, "server", "--tick-rate", "abc").CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "tick-rate") {
		t.Fatalf("exit %v, output %q", err, out)
	}
}

// lineWatcher collects a process's stderr lines and waits for patterns.
type lineWatcher struct {
	cmd   *exec.Cmd
	lines chan string
	seen  []string
}

func watch(t *testing.T, cmd *exec.Cmd) *lineWatcher {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	w := &lineWatcher{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	return w
}

// until reads lines until one satisfies ok (returned) or 30 s pass.
func (w *lineWatcher) until(t *testing.T, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, open := <-w.lines:
			if !open {
				t.Fatalf("%s: the process exited; its output:\n%s", what, strings.Join(w.seen, "\n"))
			}
			w.seen = append(w.seen, l)
			if ok(l) {
				return l
			}
		case <-deadline:
			t.Fatalf("%s: not within 30 s; output:\n%s", what, strings.Join(w.seen, "\n"))
		}
	}
}

// A server process and two client processes, one on the same host through
// shared memory (chosen automatically from the tcp address) and one forced
// to tcp: both trade through the RPC gateway and see their fills.
func TestServerAndClientsTrade(t *testing.T) {
	dir := t.TempDir()
	srv := watch(t, vnrpc(t, "server", "--tick-rate", "50", "--summary-interval", "200ms",
		"--data-dir", dir, "--socket", dir+"/s/rpc.sock", "--rep", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"))
	started := srv.until(t, "the RPC service start", func(l string) bool { return strings.Contains(l, "RPC service started") })
	i := strings.Index(started, "calls tcp://")
	if i < 0 {
		t.Fatalf("no call address in %q", started)
	}
	addr := strings.Fields(started[i+len("calls "):])[0]
	addr = strings.TrimRight(addr, ",")
	for _, tr := range []string{"auto", "tcp"} {
		want := map[string]string{"auto": "local", "tcp": "tcp"}[tr]
		cli := watch(t, vnrpc(t, "client", addr, "--transport", tr, "--demo", "--summary-interval", "200ms"))
		cli.until(t, tr+" client trading over "+want, func(l string) bool {
			return strings.Contains(l, "msg=summary") && strings.Contains(l, "transport="+want) &&
				!strings.Contains(l, "trades=0 ") && !strings.Contains(l, "ticks/s=0 ")
		})
		cli.stop(t, "client stopped")
	}
}

// stop sends SIGTERM and expects exit status 0 and a last line containing bye.
func (w *lineWatcher) stop(t *testing.T, bye string) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	w.until(t, "the stop", func(l string) bool { return strings.Contains(l, bye) })
	for l := range w.lines {
		w.seen = append(w.seen, l)
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(w.seen, "\n"))
	}
}

// "vnrpc bench --quick" runs every scenario (each starting its own helper
// processes) and writes every output file; "compare" of a run with itself
// finds no change. A smoke test: no timing is asserted.
func TestBenchQuickWritesEverything(t *testing.T) {
	out := t.TempDir()
	cmd := vnrpc(t, "bench", "--quick", "--no-progress", "--out", out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench --quick: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results []struct {
		Scenario string  `json:"scenario"`
		Subject  string  `json:"subject"`
		Baseline bool    `json:"baseline"`
		Mode     string  `json:"mode"`
		P50      int64   `json:"p50_ns"`
		P99      int64   `json:"p99_ns"`
		Max      int64   `json:"max_ns"`
		Rate     float64 `json:"rate_per_s"`
	}
	if err := json.Unmarshal(raw, &results); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	baselines := 0
	for _, r := range results {
		seen[r.Scenario] = true
		seen[r.Scenario+"/"+r.Subject] = true
		if r.Baseline {
			baselines++
		}
		// A floor (the host's stalls of a spinning thread) has no rate.
		if r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || (r.Rate <= 0) != (r.Mode == bench.ModeFloor) {
			t.Errorf("implausible result %+v", r)
		}
	}
	for _, sc := range []string{"ring", "calls", "ticks", "lossless", "fanout", "tick-to-order"} {
		if !seen[sc] {
			t.Errorf("no results for scenario %s", sc)
		}
		for _, ext := range []string{".svg", ".png"} {
			if fi, err := os.Stat(filepath.Join(out, "latency-"+sc+ext)); err != nil || fi.Size() == 0 {
				t.Errorf("chart latency-%s%s: %v", sc, ext, err)
			}
		}
	}
	for _, s := range []string{"ticks/ring-spin-hot", "ticks/host-spin-floor"} {
		if !seen[s] {
			t.Errorf("no %s baseline", s)
		}
	}
	if baselines < 11 {
		t.Errorf("%d baselines, want the channel, unix stream, unix echo, REQ/REP and PUB/SUB over ipc and tcp, gRPC, the hot ring and the host's spin floor", baselines)
	}
	for _, f := range []string{"report.md", "machine.json", "throughput.svg", "throughput.png"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	res := filepath.Join(out, "results.json")
	b, err = vnrpc(t, "bench", "compare", res, res).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "no change") {
		t.Errorf("compare with itself: %v\n%s", err, b)
	}
}
