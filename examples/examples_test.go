// Package examples_test runs each example as written: it builds the
// commands and runs each server with its client.
package examples_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/internal/proc"
)

// build compiles the example packages into dir.
func build(t *testing.T, dir string, pkgs ...string) {
	t.Helper()
	for _, p := range pkgs {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, filepath.Base(p)), "./"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", p, err, out)
		}
	}
}

// buildVnrpc compiles the vnrpc command into dir and returns its path.
func buildVnrpc(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "vnrpc")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/vnrpc").CombinedOutput(); err != nil {
		t.Fatalf("go build vnrpc: %v\n%s", err, out)
	}
	return bin
}

// started is an example's process, its stdout and stderr read as lines.
type started struct{ *proc.Child }

// start runs bin with a private HOME and runtime dir.
func start(t *testing.T, home, bin string, args ...string) *started {
	t.Helper()
	cmd := exec.Command(bin, args...)
	return &started{proc.StartCommand(t, cmd, proc.Options{MergeStderr: true,
		Env: []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + filepath.Join(home, "run")}})}
}

// until waits up to 30 s for a line containing s and returns it.
func (p *started) until(t *testing.T, s string) string {
	t.Helper()
	return p.MustUntil(t, 30*time.Second, fmt.Sprintf("%q", s), func(l string) bool { return strings.Contains(l, s) })
}

// untilValue waits for a line containing prefix and returns what follows it.
func (p *started) untilValue(t *testing.T, prefix string) string {
	t.Helper()
	l := p.until(t, prefix)
	return l[strings.Index(l, prefix)+len(prefix):]
}

// stop sends SIGTERM and expects a clean exit.
func (p *started) stop(t *testing.T) {
	t.Helper()
	if err := p.Terminate(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Tail(30))
	}
}

// full skips t in the fast tier: every example test runs processes for seconds.
func full(t *testing.T) {
	if testing.Short() {
		t.Skip("example processes running for seconds: the full tier")
	}
}

func TestServerClient(t *testing.T) {
	full(t)
	bin, home := t.TempDir(), t.TempDir()
	build(t, bin, "server_client/run_server", "server_client/run_client")
	srv := start(t, home, filepath.Join(bin, "run_server"))
	srv.until(t, "RPC service started")
	if _, err := os.Stat(filepath.Join(home, ".vntrader", "rpc_service_setting.json")); err != nil {
		t.Errorf("the service's settings were not saved: %v", err)
	}
	cli := start(t, home, filepath.Join(bin, "run_client"))
	cli.until(t, "state\tconnected local")
	cli.until(t, "tick\trb2601.SHFE")
	cli.stop(t)
	srv.stop(t)
}

// run_server -ui serves the console: the page and its assets load.
func TestServerUI(t *testing.T) {
	full(t)
	bin, home := t.TempDir(), t.TempDir()
	build(t, bin, "server_client/run_server")
	srv := start(t, home, filepath.Join(bin, "run_server"), "-ui", "-ui-addr", "127.0.0.1:0")
	url := srv.untilValue(t, "console: open ")
	url = strings.Fields(url)[0]
	for _, u := range []string{url, url + "assets/app.js"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", u, resp.Status)
		}
	}
	srv.stop(t)
}

func TestSimpleRPC(t *testing.T) {
	full(t)
	bin, home := t.TempDir(), t.TempDir()
	build(t, bin, "simple_rpc/server", "simple_rpc/client")
	srv := start(t, home, filepath.Join(bin, "server"))
	srv.until(t, "server started")
	cli := start(t, home, filepath.Join(bin, "client"))
	cli.until(t, "connected over local")
	cli.until(t, "add(1, 3) = 4")
	cli.until(t, "client received topic:1, data:current server time is")
	srv.until(t, "receiving: 1, 3")
	cli.stop(t)
	srv.stop(t)
}

// Two copies of the strategy example trade through one vnrpc server.
func TestStrategyCopies(t *testing.T) {
	full(t)
	bin, home := t.TempDir(), t.TempDir()
	build(t, bin, "strategy")
	sock := filepath.Join(home, "s", "rpc.sock")
	srv := start(t, home, buildVnrpc(t, bin), "server", "--tick-rate", "50", "--data-dir", home,
		"--socket", sock, "--no-lan", "--summary-interval", "1h")
	srv.until(t, "RPC service started")
	var copies []*started
	for i, name := range []string{"ma1", "ma2"} {
		args := []string{"-name", name, "-addr", sock}
		if i == 1 {
			args = append(args, "-inline") // one copy with inline callbacks
		}
		p := start(t, home, filepath.Join(bin, "strategy"), args...)
		p.until(t, "strategy running")
		copies = append(copies, p)
	}
	for _, p := range copies {
		p.until(t, "filled")
	}
	for _, p := range copies {
		p.stop(t)
	}
	srv.stop(t)
}

// python finds a Python 3 with pyzmq and msgpack: Debian's (where
// scripts/deps.sh installs python3-zmq and python3-msgpack) or the first on PATH.
func python(t *testing.T) string {
	t.Helper()
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		if exec.Command(p, "-c", "import zmq, msgpack").Run() == nil {
			return p
		}
	}
	t.Fatalf("no python3 with pyzmq and msgpack (tried %v): run scripts/deps.sh, or install python3-zmq and python3-msgpack", cands)
	return ""
}

// The Python client, written from docs/protocol.md alone, trades through
// a vnrpc server over ZeroMQ TCP: hello, events without a gap, queries, a
// subscription, an order that fills, and a remote error.
func TestPythonClient(t *testing.T) {
	full(t)
	py := python(t)
	home := t.TempDir()
	srv := start(t, home, buildVnrpc(t, t.TempDir()), "server", "--tick-rate", "20", "--data-dir", home,
		"--socket", filepath.Join(home, "s", "rpc.sock"), "--rep", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*",
		"--summary-interval", "1h")
	calls := srv.untilValue(t, "calls ")
	calls = strings.TrimSuffix(strings.Fields(calls)[0], ",")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "python_client/client.py", calls).CombinedOutput()
	if err != nil {
		t.Fatalf("client.py %s: %v\n%s", calls, err, out)
	}
	// Each wanted line is the start of a line the client printed.
	lines := strings.Split(string(out), "\n")
	for _, want := range []string{"connected\t", "contracts\t11\n", "tick\trb2601.SHFE", "order\tSIM.1 ALLTRADED",
		"trade\t", "error\tunknown method", "done\tlost 0\n"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l+"\n", want) }) {
			t.Errorf("client.py printed no line starting %q:\n%s", want, out)
		}
	}
	srv.stop(t)
}
