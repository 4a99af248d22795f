package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
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
	cmd := vnrpc(t, "server", "--tick-rate", "100", "--summary-interval", "200ms", "--demo")
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
