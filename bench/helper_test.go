package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/internal/proc"
)

func TestMain(m *testing.M) {
	proc.Main() // the test binary re-executed as a helper
	os.Exit(m.Run())
}

func init() {
	registerHelper("test-wait", func() error {
		fmt.Println("ready")
		waitStdin()
		return nil
	})
}

// A deferred stop stops the helpers spawned after the defer, as every
// scenario's "var ps procs; defer ps.stop()" needs.
func TestDeferredStopStopsLaterSpawns(t *testing.T) {
	var spawned []*helper
	func() {
		var ps procs
		defer ps.stop()
		for range 2 {
			p, err := ps.spawn("test-wait")
			if err != nil {
				t.Fatal(err)
			}
			spawned = append(spawned, p)
			if _, err := p.expect("ready", 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}()
	for _, p := range spawned {
		if p.Cmd.ProcessState == nil {
			_ = p.Cmd.Process.Kill()
			t.Errorf("helper %d still running after the deferred stop", p.Cmd.Process.Pid)
		}
	}
}

// With ProfileEnv set, a helper writes a CPU profile of its run.
func TestHelperProfile(t *testing.T) {
	dir := t.TempDir()
	p, err := spawn("test-wait", ProfileEnv+"="+dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.expect("ready", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	p.stop()
	name := filepath.Join(dir, fmt.Sprintf("test-wait-%d.pprof", p.Cmd.Process.Pid))
	if st, err := os.Stat(name); err != nil || st.Size() == 0 {
		t.Fatalf("no profile at %s: %v", name, err)
	}
}
