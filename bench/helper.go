package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/vnrpc/vnrpc/ring"
)

// HelperEnv names the helper role when the running executable is started
// as one of the suite's helper processes.
const HelperEnv = "VNRPC_BENCH_HELPER"

var helpers = map[string]func() error{}

// IsHelper reports whether this process was started as a helper.
func IsHelper() bool { return os.Getenv(HelperEnv) != "" }

// HelperMain runs the helper role named in the environment and returns
// the process's exit status.
func HelperMain() int {
	role := os.Getenv(HelperEnv)
	f, ok := helpers[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench: unknown helper %q\n", role)
		return 2
	}
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

// proc is a helper process: it prints lines on stdout, reads commands on
// stdin, and stops when stdin closes.
type proc struct {
	role  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	seen  []string
}

// spawn starts the running executable as helper role with extra
// environment variables.
func spawn(role string, env ...string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), HelperEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start helper %s: %w", role, err)
	}
	p := &proc{role: role, cmd: cmd, stdin: in, lines: make(chan string, 256)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p, nil
}

// expect waits for a line starting with prefix and returns its fields.
func (p *proc) expect(prefix string, within time.Duration) ([]string, error) {
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return nil, fmt.Errorf("bench: helper %s exited before %q (said: %s)", p.role, prefix, strings.Join(p.seen, " | "))
			}
			p.seen = append(p.seen, l)
			if strings.HasPrefix(l, prefix) {
				return strings.Fields(l), nil
			}
		case <-deadline:
			return nil, fmt.Errorf("bench: helper %s did not say %q within %v", p.role, prefix, within)
		}
	}
}

func (p *proc) send(format string, a ...any) error {
	_, err := fmt.Fprintf(p.stdin, format+"\n", a...)
	return err
}

// stop closes stdin and waits for the process, killing it after 10 s.
func (p *proc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// tunedEnv is the environment setting of the tuned low-latency setup
// (README, "Low latency on a small host"): one runtime thread per process.
const tunedEnv = "GOMAXPROCS=1"

// procs stops every helper it holds.
type procs []*proc

func (ps *procs) spawn(role string, env ...string) (*proc, error) {
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

// pace calls f n times at `rate` per second, open loop: call i is due at
// start + i/rate, and f gets that intended time. It spins for gaps under
// 2 ms (sleeps are that coarse on small VMs) and sleeps for longer ones.
func pace(n int, rate float64, f func(i int, due int64)) {
	period := float64(time.Second) / rate
	start := nanotime()
	for i := range n {
		due := start + int64(float64(i)*period)
		for {
			d := due - nanotime()
			if d <= 0 {
				break
			}
			if d > 2_000_000 {
				time.Sleep(time.Duration(d - 1_000_000))
			}
		}
		f(i, due)
	}
}

func nanotime() int64 { return ring.Nanotime() }
