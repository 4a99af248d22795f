// Package examples_test runs each example as written: it builds the
// commands and runs each server with its client.
package examples_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

type proc struct {
	cmd   *exec.Cmd
	lines chan string
	seen  []string
}

// start runs bin with a private HOME and runtime dir, reading its stdout and stderr.
func start(t *testing.T, home, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+filepath.Join(home, "run"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}

// until waits up to 30 s for a line containing s.
func (p *proc) until(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("exited before printing %q:\n%s", s, strings.Join(p.seen, "\n"))
			}
			p.seen = append(p.seen, l)
			if strings.Contains(l, s) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q within 30 s:\n%s", s, strings.Join(p.seen, "\n"))
		}
	}
}

// untilValue waits for a line containing prefix and returns what follows it.
func (p *proc) untilValue(t *testing.T, prefix string) string {
	t.Helper()
	p.until(t, prefix)
	l := p.seen[len(p.seen)-1]
	return l[strings.Index(l, prefix)+len(prefix):]
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range p.lines {
		p.seen = append(p.seen, l)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(p.seen, "\n"))
	}
}

func TestServerClient(t *testing.T) {
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
	bin, home := t.TempDir(), t.TempDir()
	build(t, bin, "simple_rpc/server", "simple_rpc/client")
	srv := start(t, home, filepath.Join(bin, "server"))
	srv.until(t, "server started")
	cli := start(t, home, filepath.Join(bin, "client"))
	cli.until(t, "connected over local")
	cli.until(t, "4")
	cli.until(t, "client received topic:1, data:current server time is")
	srv.until(t, "receiving: 1, 3")
	cli.stop(t)
	srv.stop(t)
}

// Two copies of the strategy example trade through one vnrpc server.
func TestStrategyCopies(t *testing.T) {
	bin, home := t.TempDir(), t.TempDir()
	build(t, bin, "strategy")
	sock := filepath.Join(home, "s", "rpc.sock")
	srv := start(t, home, buildVnrpc(t, bin), "server", "--tick-rate", "50", "--data-dir", home,
		"--socket", sock, "--no-lan", "--summary-interval", "1h")
	srv.until(t, "RPC service started")
	var copies []*proc
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
	for _, want := range []string{"connected\t", "contracts\t11", "tick\trb2601.SHFE", "order\tSIM.1 ALLTRADED",
		"trade\t", "error\tunknown method", "done\tlost 0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("client.py printed no %q:\n%s", want, out)
		}
	}
	srv.stop(t)
}
