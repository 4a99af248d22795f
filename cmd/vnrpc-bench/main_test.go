package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnrpc/vnrpc/bench"
	"github.com/vnrpc/vnrpc/internal/proc"
)

func init() {
	// The test binary re-executed as the vnrpc-bench command.
	proc.Register("vnrpc-bench", func() int { main(); return 0 })
}

func TestMain(m *testing.M) {
	proc.Main()
	os.Exit(m.Run())
}

// vnrpcBench runs the command with args to its end and returns its output.
func vnrpcBench(t *testing.T, args ...string) (string, error) {
	t.Helper()
	c := proc.StartHelper(t, "vnrpc-bench", proc.Options{Args: args, MergeStderr: true})
	err := c.Wait()
	return c.Tail(1000), err
}

// "vnrpc bench --quick" runs every scenario (each starting its own helper
// processes) and writes every output file; "compare" of a run with itself
// finds no change. A smoke test: no timing is asserted.
func TestBenchQuickWritesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("every scenario, each with its processes, for a minute: the full tier")
	}
	out := t.TempDir()
	b, err := vnrpcBench(t, "--quick", "--no-progress", "--out", out)
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
	b, err = vnrpcBench(t, "compare", res, res)
	if err != nil || !strings.Contains(b, "no change") {
		t.Errorf("compare with itself: %v\n%s", err, b)
	}
}
