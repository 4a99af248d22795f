package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/internal/proc"
)

func init() {
	// The test binary re-executed as the vnrpc command, arguments and all.
	proc.Register("vnrpc", func() int { main(); return 0 })
}

func TestMain(m *testing.M) {
	proc.Main()
	os.Exit(m.Run())
}

// vnrpc starts the command with args; its stderr (the logs) is read as lines.
func vnrpc(t *testing.T, args ...string) *proc.Child {
	t.Helper()
	return proc.StartHelper(t, "vnrpc", proc.Options{Args: args, MergeStderr: true})
}

// summary reports whether l is a summary line with live ticks and trades.
func summary(l string, ticks, trades bool) bool {
	return strings.Contains(l, "msg=summary") && (!ticks || !strings.Contains(l, "ticks/s=0 ")) &&
		(!trades || !strings.Contains(l, "trades=0 "))
}

// The server process shows live ticks and the demo order flow, then stops
// cleanly on SIGTERM with exit status 0 after saying so.
func TestServerProcessLiveTicksAndSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("a server process trading for seconds: the full tier")
	}
	dir := t.TempDir()
	srv := vnrpc(t, "server", "--tick-rate", "100", "--summary-interval", "200ms", "--demo",
		"--data-dir", dir, "--socket", dir+"/s/rpc.sock", "--no-lan")
	srv.MustUntil(t, 30*time.Second, "live ticks and a demo trade", func(l string) bool { return summary(l, true, true) })
	stop(t, srv, "server stopped")
}

func TestBadFlagExitStatus(t *testing.T) {
	c := vnrpc(t, "server", "--tick-rate", "abc")
	err := c.Wait()
	ee, ok := err.(*exec.ExitError)
	if out := c.Tail(50); !ok || ee.ExitCode() != 2 || !strings.Contains(out, "tick-rate") {
		t.Fatalf("exit %v, output %q", err, out)
	}
}

// stop sends SIGTERM and expects a line containing bye, then exit status 0.
func stop(t *testing.T, c *proc.Child, bye string) {
	t.Helper()
	if err := c.Terminate(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, c.Tail(30))
	}
	c.MustUntil(t, time.Second, "the last line "+bye, func(l string) bool { return strings.Contains(l, bye) })
}

// A server process and two client processes, one on the same host through
// shared memory (chosen automatically from the tcp address) and one forced
// to tcp: both trade through the RPC gateway and see their fills.
func TestServerAndClientsTrade(t *testing.T) {
	if testing.Short() {
		t.Skip("three processes trading for seconds: the full tier")
	}
	dir := t.TempDir()
	srv := vnrpc(t, "server", "--tick-rate", "50", "--summary-interval", "200ms",
		"--data-dir", dir, "--socket", dir+"/s/rpc.sock", "--rep", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*")
	started := srv.MustUntil(t, 30*time.Second, "the RPC service start", func(l string) bool {
		return strings.Contains(l, "RPC service started")
	})
	i := strings.Index(started, "calls tcp://")
	if i < 0 {
		t.Fatalf("no call address in %q", started)
	}
	addr := strings.TrimRight(strings.Fields(started[i+len("calls "):])[0], ",")
	for _, tr := range []string{"auto", "tcp"} {
		want := map[string]string{"auto": "local", "tcp": "tcp"}[tr]
		cli := vnrpc(t, "client", addr, "--transport", tr, "--demo", "--summary-interval", "200ms")
		cli.MustUntil(t, 30*time.Second, tr+" client trading over "+want, func(l string) bool {
			return summary(l, true, true) && strings.Contains(l, "transport="+want)
		})
		stop(t, cli, "client stopped")
	}
}

// "vnrpc bench" runs the vnrpc-bench program found beside it or on PATH,
// with its arguments; without one it says how to build it.
func TestBenchRunsTheBenchProgram(t *testing.T) {
	c := vnrpc(t, "bench", "--list")
	if err := c.Wait(); err == nil || !strings.Contains(c.Tail(5), "make build") {
		t.Fatalf("vnrpc bench without vnrpc-bench: %v\n%s", err, c.Tail(5))
	}
	if testing.Short() {
		return
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin, "../vnrpc-bench").CombinedOutput(); err != nil {
		t.Fatalf("go build vnrpc-bench: %v\n%s", err, out)
	}
	c = proc.StartHelper(t, "vnrpc", proc.Options{Args: []string{"bench", "--list"}, MergeStderr: true,
		Env: []string{"PATH=" + bin + string(filepath.ListSeparator) + os.Getenv("PATH")}})
	if err := c.Wait(); err != nil || !strings.Contains(c.Tail(20), "tick-to-order") {
		t.Fatalf("vnrpc bench --list: %v\n%s", err, c.Tail(20))
	}
}
