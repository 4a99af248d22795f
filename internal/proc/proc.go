// Package proc starts and talks to child processes, for vnrpc's
// multi-process tests and its benchmark suite: one way to start a
// process, read its output as lines, wait for a line before a deadline,
// write to its stdin and stop it.
//
// Helper processes are the running binary itself, re-executed: a test
// binary's TestMain (or a command's main) calls Main first, which runs
// the helper that the environment names, registered with Register,
// instead of the tests:
//
//	func init() { proc.Register("writer", helperWriter) }
//	func TestMain(m *testing.M) { proc.Main(); os.Exit(m.Run()) }
//	…
//	w := proc.StartHelper(t, "writer", proc.Options{Env: []string{"VNRPC_COUNT=10"}})
//	line := w.MustExpect(t, "ready", 30*time.Second)
//
// A Child is used by one goroutine at a time; its own reader goroutine
// ends when the process's output does, and Wait and Stop wait for it.
package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// helperEnv names the helper a re-executed binary runs.
const helperEnv = "VNRPC_HELPER"

var helpers = map[string]func() int{}

// Register makes f the helper called name; call it from an init function.
// f's result is the process's exit status.
func Register(name string, f func() int) {
	if _, dup := helpers[name]; dup {
		panic("proc: helper " + name + " registered twice") // programmer error, at init
	}
	helpers[name] = f
}

// IsHelper reports whether this process was started as a helper.
func IsHelper() bool { return os.Getenv(helperEnv) != "" }

// Main runs the helper the environment names and exits with its status;
// it returns at once in a process that is not a helper.
func Main() {
	name := os.Getenv(helperEnv)
	if name == "" {
		return
	}
	f, ok := helpers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "proc: no helper %q in this binary\n", name)
		os.Exit(2)
	}
	_ = os.Unsetenv(helperEnv) // what the helper starts in turn is not a helper by inheritance
	os.Exit(f())
}

// Options shape a child process.
type Options struct {
	// Env is added to this process's environment (NAME=value).
	Env []string
	// Args are the command's arguments (a helper's, for its os.Args).
	Args []string
	// Files are passed as descriptors 3, 4, … (exec.Cmd.ExtraFiles).
	Files []*os.File
	// Stderr receives the child's standard error (default os.Stderr);
	// with MergeStderr it is read as lines with standard output instead.
	Stderr      io.Writer
	MergeStderr bool
}

// maxLines bounds the output lines a Child keeps: those already looked
// at go first, then the oldest.
const maxLines = 100_000

// Child is a started process and its output, as lines.
type Child struct {
	Cmd   *exec.Cmd
	name  string
	stdin io.WriteCloser

	mu    sync.Mutex
	lines []string // lines[next:] not looked at yet
	next  int
	eof   bool
	more  chan struct{} // a line came, or the output ended
	done  chan struct{} // the reader goroutine ended

	waitOnce sync.Once
	waitErr  error
}

// Helper starts the running executable as the helper called name.
func Helper(name string, o Options) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, o.Args...)
	cmd.Env = append(append(os.Environ(), helperEnv+"="+name), o.Env...)
	return start(cmd, name, o)
}

// Command starts cmd (its Path and Args set; Env, if set, is kept and
// o.Env added to it).
func Command(cmd *exec.Cmd, o Options) (*Child, error) {
	if len(o.Env) > 0 {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, o.Env...)
	}
	cmd.Args = append(cmd.Args, o.Args...)
	return start(cmd, cmd.Path, o)
}

func start(cmd *exec.Cmd, name string, o Options) (*Child, error) {
	cmd.ExtraFiles = o.Files
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	switch {
	case o.MergeStderr:
		cmd.Stderr = cmd.Stdout
	case o.Stderr != nil:
		cmd.Stderr = o.Stderr
	default:
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("proc: start %s: %w", name, err)
	}
	c := &Child{Cmd: cmd, name: name, stdin: stdin, more: make(chan struct{}, 1), done: make(chan struct{})}
	go c.read(stdout)
	return c, nil
}

// read keeps the output's lines until it ends.
func (c *Child) read(r io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		c.mu.Lock()
		if len(c.lines) >= maxLines {
			drop := max(c.next, 1)
			c.lines = append(c.lines[:0], c.lines[drop:]...)
			c.next = max(c.next-drop, 0)
		}
		c.lines = append(c.lines, sc.Text())
		c.mu.Unlock()
		c.signal()
	}
	_, _ = io.Copy(io.Discard, r) // a line past the scanner's limit: drain, so the child never blocks
	c.mu.Lock()
	c.eof = true
	c.mu.Unlock()
	c.signal()
}

func (c *Child) signal() {
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// Until waits for a line that ok accepts, looking at each line once, and
// returns it. It fails if the output ends or within passes first; the
// error quotes the last lines.
func (c *Child) Until(within time.Duration, what string, ok func(line string) bool) (string, error) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for c.next < len(c.lines) {
			l := c.lines[c.next]
			c.next++
			if ok(l) {
				c.mu.Unlock()
				return l, nil
			}
		}
		eof := c.eof
		c.mu.Unlock()
		if eof {
			return "", fmt.Errorf("proc: %s exited before %s; its last output:\n%s", c.name, what, c.Tail(20))
		}
		select {
		case <-c.more:
		case <-deadline.C:
			return "", fmt.Errorf("proc: %s: no %s within %v; its last output:\n%s", c.name, what, within, c.Tail(20))
		}
	}
}

// Expect waits for a line that starts with prefix and returns its fields.
func (c *Child) Expect(prefix string, within time.Duration) ([]string, error) {
	l, err := c.Until(within, fmt.Sprintf("a line starting %q", prefix), func(l string) bool {
		return strings.HasPrefix(l, prefix)
	})
	if err != nil {
		return nil, err
	}
	return strings.Fields(l), nil
}

// Tail is the last n lines of output, for error messages.
func (c *Child) Tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines[max(len(c.lines)-n, 0):], "\n")
}

// Send writes a line to the child's standard input.
func (c *Child) Send(format string, a ...any) error {
	_, err := fmt.Fprintf(c.stdin, format+"\n", a...)
	return err
}

// CloseStdin closes the child's standard input: a helper waiting on it
// sees the end.
func (c *Child) CloseStdin() error { return c.stdin.Close() }

// Wait waits for the output to end and the process to exit, and returns
// its exit error. It may be called more than once.
func (c *Child) Wait() error {
	c.waitOnce.Do(func() {
		<-c.done
		c.waitErr = c.Cmd.Wait()
	})
	return c.waitErr
}

// Stop closes stdin (helpers exit when it does), waits up to grace for
// the process, then kills it; it returns the exit error.
func (c *Child) Stop(grace time.Duration) error {
	_ = c.stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(grace):
		_ = c.Cmd.Process.Kill()
		return <-exited
	}
}

// Terminate sends SIGTERM and waits for the exit; a clean exit is nil.
func (c *Child) Terminate() error {
	if err := c.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return c.Wait()
}

// Kill kills the process and waits for it.
func (c *Child) Kill() {
	_ = c.Cmd.Process.Kill()
	_ = c.Wait()
}

// TB is the part of testing.TB the test helpers use (this package does
// not import testing: the benchmark suite, a command, uses it too).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// StartHelper is Helper for a test: a failure to start fails t, and the
// process is killed when the test ends.
func StartHelper(t TB, name string, o Options) *Child {
	t.Helper()
	c, err := Helper(name, o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(c.Kill)
	return c
}

// StartCommand is Command for a test (see StartHelper).
func StartCommand(t TB, cmd *exec.Cmd, o Options) *Child {
	t.Helper()
	c, err := Command(cmd, o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(c.Kill)
	return c
}

// MustExpect is Expect failing t; it returns the line's fields.
func (c *Child) MustExpect(t TB, prefix string, within time.Duration) []string {
	t.Helper()
	f, err := c.Expect(prefix, within)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return f
}

// MustUntil is Until failing t.
func (c *Child) MustUntil(t TB, within time.Duration, what string, ok func(line string) bool) string {
	t.Helper()
	l, err := c.Until(within, what, ok)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return l
}

// HelperEnv is the environment setting that makes the running binary,
// started by another command (ip netns exec …), run helper name.
func HelperEnv(name string) string { return helperEnv + "=" + name }
