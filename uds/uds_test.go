package uds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/internal/callrt"
	"github.com/vnrpc/vnrpc/internal/proc"
	"github.com/vnrpc/vnrpc/internal/testutil"
)

func init() {
	// A peer of another uid, started by TestPeerOfAnotherUID.
	proc.Register("dial", func() int {
		c, err := Dial(context.Background(), os.Getenv("VNRPC_SOCK"), Options{})
		if err != nil {
			fmt.Println("dial:", err)
			return 0
		}
		_, err = c.Call(context.Background(), "echo", []byte("x"))
		fmt.Println("call:", err)
		return 0
	})
}

func TestMain(m *testing.M) {
	proc.Main()
	os.Exit(m.Run())
}

// sockPath is a short path in a fresh 0700 directory (sun_path holds 108 bytes).
func sockPath(t testing.TB) string {
	d, err := os.MkdirTemp("", "uds")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return filepath.Join(d, "s")
}

// testMux has echo, fail, panic, block (until release), and counts calls.
type testMux struct {
	calls.Mux
	release chan struct{}
	entered chan struct{}
	counted atomic.Int64
}

func newTestMux() *testMux {
	m := &testMux{release: make(chan struct{}), entered: make(chan struct{}, 16)}
	m.Handle("echo", func(_ context.Context, a []byte) ([]byte, error) { return a, nil })
	m.Handle("fail", func(context.Context, []byte) ([]byte, error) { return nil, errors.New("it broke") })
	m.Handle("bad", func(context.Context, []byte) ([]byte, error) {
		return nil, calls.Errorf(calls.CodeBadRequest, "want an int")
	})
	m.Handle("panic", func(context.Context, []byte) ([]byte, error) { panic("handler bug") })
	m.Handle("count", func(context.Context, []byte) ([]byte, error) { m.counted.Add(1); return nil, nil })
	m.Handle("stall", func(_ context.Context, a []byte) ([]byte, error) { // deaf to its deadline
		m.entered <- struct{}{}
		<-m.release
		return a, nil
	})
	m.Handle("block", func(ctx context.Context, a []byte) ([]byte, error) {
		m.entered <- struct{}{}
		select {
		case <-m.release:
			return a, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	return m
}

type fixture struct {
	srv  *Server
	mux  *testMux
	logs *testutil.Buffer
	path string
}

func serve(t testing.TB, o Options) *fixture {
	t.Helper()
	f := &fixture{mux: newTestMux(), logs: &testutil.Buffer{}, path: sockPath(t)}
	o.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	srv, err := Listen(f.path, f.mux, o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

func dial(t testing.TB, path string, o Options) *Client {
	t.Helper()
	c, err := Dial(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func within(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCallsAndRemoteErrors(t *testing.T) {
	for _, poll := range []time.Duration{0, 50 * time.Microsecond} {
		t.Run(fmt.Sprint("poll=", poll), func(t *testing.T) {
			f := serve(t, Options{Poll: poll})
			c := dial(t, f.path, Options{Poll: poll})
			ctx := within(t)
			if got, err := c.Call(ctx, "echo", []byte("hello")); err != nil || string(got) != "hello" {
				t.Fatalf("echo: %q %v", got, err)
			}
			if got, err := c.Call(ctx, "echo", nil); err != nil || len(got) != 0 {
				t.Fatalf("empty echo: %q %v", got, err)
			}
			cases := map[string]calls.Code{"nope": calls.CodeUnknownMethod, "fail": calls.CodeApp, "bad": calls.CodeBadRequest, "panic": calls.CodeInternal}
			for method, code := range cases {
				_, err := c.Call(ctx, method, nil)
				var re *calls.RemoteError
				if !errors.As(err, &re) || re.Code != code || re.Method != method {
					t.Errorf("%s: %v, want code %v", method, err, code)
				}
			}
			if !strings.Contains(f.logs.String(), "handler bug") {
				t.Error("a panicking handler was not logged")
			}
			if got, err := c.Call(ctx, "echo", []byte("still fine")); err != nil || string(got) != "still fine" {
				t.Fatalf("after errors: %q %v", got, err)
			}
		})
	}
}

func TestRepliesOutOfOrder(t *testing.T) {
	f := serve(t, Options{})
	c := dial(t, f.path, Options{})
	ctx := within(t)
	slow := c.goCall(ctx, "block", []byte("slow"), nil)
	<-f.mux.entered
	if got, err := c.Call(ctx, "echo", []byte("fast")); err != nil || string(got) != "fast" {
		t.Fatalf("a call behind a blocked one: %q %v", got, err)
	}
	close(f.mux.release)
	if r := <-slow.Done; r.Err != nil || string(r.Result) != "slow" {
		t.Fatalf("blocked call: %q %v", r.Result, r.Err)
	}
}

// A call whose context ends returns at once and leaves the client usable,
// blocking or polling (which arms the interrupt only when it parks), for
// a deadline and for a cancel.
func TestTimeoutLeavesClientUsable(t *testing.T) {
	for _, poll := range []time.Duration{0, 50 * time.Microsecond} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			f := serve(t, Options{})
			c := dial(t, f.path, Options{Poll: poll})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if _, err := c.Call(ctx, "block", nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("blocked call: %v", err)
			}
			<-f.mux.entered // that call's
			if got, err := c.Call(within(t), "echo", []byte("ok")); err != nil || string(got) != "ok" {
				t.Fatalf("after a timeout: %q %v", got, err)
			}
			ctx, cancel = context.WithCancel(context.Background())
			go func() { <-f.mux.entered; cancel() }()
			if _, err := c.Call(ctx, "block", nil); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled call: %v", err)
			}
			if got, err := c.Call(within(t), "echo", []byte("ok")); err != nil || string(got) != "ok" {
				t.Fatalf("after a cancel: %q %v", got, err)
			}
		})
	}
}

// CallTimeout gives up by itself, with no context timer, at its timeout:
// the reader role's deadline follows the earliest timeout in flight, even
// one that comes after the reader parked with a later one. The handler
// ignores its deadline, so only the client can end these calls.
func TestCallTimeout(t *testing.T) {
	for _, poll := range []time.Duration{0, 50 * time.Microsecond} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			f := serve(t, Options{})
			c := dial(t, f.path, Options{Poll: poll})
			defer close(f.mux.release) // let the stalled handlers go
			start := time.Now()
			if _, err := c.CallTimeout(context.Background(), "stall", nil, 30*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("stalled call: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("a 30 ms timeout took %v", d)
			}
			<-f.mux.entered
			if got, err := c.CallTimeout(context.Background(), "echo", []byte("ok"), 10*time.Second); err != nil || string(got) != "ok" {
				t.Fatalf("after a timeout: %q %v", got, err)
			}

			// A long call leads (its reader parks with a 1 min deadline);
			// a short one comes after it and must still end on time.
			long := make(chan error, 1)
			go func() {
				_, err := c.CallTimeout(context.Background(), "stall", nil, time.Minute)
				long <- err
			}()
			<-f.mux.entered
			start = time.Now()
			if _, err := c.CallTimeout(context.Background(), "stall", nil, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("short call behind a long one: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("a 50 ms timeout behind a 1 min one took %v", d)
			}
			<-f.mux.entered
			// A context that ends first still wins.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := c.CallTimeout(ctx, "stall", nil, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("context before timeout: %v", err)
			}
			select {
			case err := <-long:
				t.Fatalf("the long call ended early: %v", err)
			default:
			}
		})
	}
}

// The server never runs a request whose deadline passed while it waited.
func TestExpiredRequestNeverRuns(t *testing.T) {
	f := serve(t, Options{MaxInFlight: 1})
	c := dial(t, f.path, Options{})
	stall := c.goCall(within(t), "block", nil, nil)
	<-f.mux.entered // the only slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	late := c.goCall(ctx, "count", nil, nil)
	<-ctx.Done() // its deadline passes while it waits for the slot
	close(f.mux.release)
	if r := <-stall.Done; r.Err != nil {
		t.Fatal(r.Err)
	}
	r := <-late.Done
	var re *calls.RemoteError
	if !errors.As(r.Err, &re) || !re.Timeout() {
		t.Fatalf("late request: %v, want a deadline refusal", r.Err)
	}
	if n := f.mux.counted.Load(); n != 0 {
		t.Fatalf("the expired request ran %d times", n)
	}
}

// TestManyClientsNoMixedReplies: 64 connections calling at once each get
// their own replies. The calls carry no deadline: the test is about
// matching, and on a loaded 2-vCPU machine under the race detector a
// per-call deadline would measure the machine instead.
func TestManyClientsNoMixedReplies(t *testing.T) {
	f := serve(t, Options{})
	const clients, calls = 64, 300
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := dial(t, f.path, Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for j := range calls {
				want := fmt.Sprintf("client %d call %d", i, j)
				got, err := c.Call(ctx, "echo", []byte(want))
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("%s: got %q, %v", want, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestServerCloseFailsPendingCalls(t *testing.T) {
	f := serve(t, Options{})
	c := dial(t, f.path, Options{})
	call := c.goCall(within(t), "block", nil, nil)
	<-f.mux.entered
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-call.Done
	if !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("pending call after server close: %v", r.Err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("client did not notice the server's end")
	}
	if _, err := c.Call(within(t), "echo", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call on a dead client: %v", err)
	}
	if err := f.srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(f.path); !errors.Is(err, os.ErrNotExist) {
		t.Error("socket file left after Close")
	}
}

// An idle client (no call in flight, so nobody reading) still notices at
// once that the server went away: the watcher waits for the hang-up.
func TestIdleClientNoticesServerEnd(t *testing.T) {
	f := serve(t, Options{})
	c := dial(t, f.path, Options{})
	if _, err := c.Call(within(t), "echo", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("an idle client did not notice the server's end")
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err after the server's end: %v", c.Err())
	}
}

// rawPeer connects without the client and writes bytes.
func rawPeer(t *testing.T, path string, b []byte) {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write(b)
	_ = conn.(*net.UnixConn).CloseWrite()
	_, _ = io.Copy(io.Discard, conn) // until the server drops us
}

func TestHostilePeersAreDroppedOthersUnaffected(t *testing.T) {
	f := serve(t, Options{MaxFrame: 1024})
	good := dial(t, f.path, Options{})
	prefix := func(n uint32, body []byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, n)
		return append(b, body...)
	}
	replyFrame := func() []byte { return callrt.AppendReply(nil, &callrt.Reply{ID: 1}) }
	cases := map[string][]byte{
		"garbage":   prefix(5, []byte("hello")),
		"truncated": prefix(100, []byte("short")),
		"oversize":  prefix(1<<30, nil),
		"reply":     replyFrame(),
	}
	for name, b := range cases {
		rawPeer(t, f.path, b)
		if got, err := good.Call(within(t), "echo", []byte(name)); err != nil || string(got) != name {
			t.Fatalf("after a %s peer: %q %v", name, got, err)
		}
	}
	logs := f.logs.String()
	for _, want := range []string{"level=WARN msg=\"uds: dropping peer\" reason=\"calls: malformed",
		"level=INFO msg=\"uds: client disconnected mid-frame\"", // a client may exit mid-write: not a warning
		"frame too large", "reply frame"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log line with %s:\n%s", want, logs)
		}
	}
	// A result over the limit is an error for that call only.
	if _, err := good.Call(within(t), "echo", make([]byte, 2000)); err == nil {
		t.Error("an oversize request was sent")
	}
}

// A malformed request whose id can be read is answered with
// CodeBadRequest, and the connection goes on.
func TestMalformedRequestIsAnswered(t *testing.T) {
	f := serve(t, Options{})
	conn, err := net.Dial("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame := func(body string) []byte {
		return append(binary.LittleEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	var out []byte
	for _, body := range []string{
		"\x96\x00\x07\xa4echo\xc0\x00\xc4\x00",     // a nil timeout
		"\x96\x00\x08\xa4echo\xff\x00\xc4\x00",     // a negative timeout
		"\x96\x00\x09\xa4echo\x00\x00\xa1x",        // args as str: fine
		"\x96\x00\x0a\xa4echo\x00\x00\xc4\x00\xc0", // trailing bytes
	} {
		out = append(out, frame(body)...)
	}
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	fr := newFrameReader(conn, DefaultMaxReply)
	got := map[uint64]calls.Code{}
	for len(got) < 4 {
		b, err := fr.next()
		if err != nil {
			t.Fatalf("after %d replies: %v", len(got), err)
		}
		_, rep, err := callrt.Decode(b)
		if err != nil || rep == nil {
			t.Fatalf("not a reply: %v", err)
		}
		got[rep.ID] = rep.Code
	}
	want := map[uint64]calls.Code{7: calls.CodeBadRequest, 8: calls.CodeBadRequest, 9: calls.CodeOK, 10: calls.CodeBadRequest}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("codes %v, want %v", got, want)
	}
}

// A request that took longer on the way than the connection's others
// (here: sent a second before the one ahead of it) has used that time up:
// with a 500 ms timeout it is refused, never run.
func TestDelayedRequestIsLate(t *testing.T) {
	f := serve(t, Options{})
	conn, err := net.Dial("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	now := callrt.Now()
	b := callrt.AppendRequest(nil, &callrt.Request{ID: 1, Method: "echo", Timeout: 10 * time.Second, Sent: now})
	b = callrt.AppendRequest(b, &callrt.Request{ID: 2, Method: "count", Timeout: 500 * time.Millisecond, Sent: now - int64(time.Second)})
	b = callrt.AppendRequest(b, &callrt.Request{ID: 3, Method: "echo", Timeout: 500 * time.Millisecond, Sent: now})
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	fr := newFrameReader(conn, DefaultMaxReply)
	got := map[uint64]calls.Code{}
	for len(got) < 3 {
		body, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		_, rep, err := callrt.Decode(body)
		if err != nil || rep == nil {
			t.Fatalf("not a reply: %v", err)
		}
		got[rep.ID] = rep.Code
	}
	want := map[uint64]calls.Code{1: calls.CodeOK, 2: calls.CodeDeadlineExceeded, 3: calls.CodeOK}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("codes %v, want %v", got, want)
	}
	if n := f.mux.counted.Load(); n != 0 {
		t.Errorf("the late request ran")
	}
}

// A client that sends requests and never reads the replies: the server
// stops reading it at MaxQueued unanswered requests, drops it once a
// reply has waited WriteTimeout, and frees what it held; other clients
// are served throughout.
func TestClientThatNeverReads(t *testing.T) {
	f := serve(t, Options{WriteTimeout: 500 * time.Millisecond})
	good := dial(t, f.path, Options{})
	conn, err := net.Dial("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	goroutines := runtime.NumGoroutine()
	before := testutil.RSS(t)

	// 400 000 requests with 1 KiB arguments, as fast as the server takes
	// them, until it drops the connection.
	args := make([]byte, 1024)
	var batch []byte
	for i := range 1000 {
		batch = callrt.AppendRequest(batch, &callrt.Request{ID: uint64(i), Method: "echo", Args: args})
	}
	sent := 0
	done := make(chan error, 1)
	go func() {
		for sent < 400_000 {
			if _, err := conn.Write(batch); err != nil {
				done <- err
				return
			}
			sent += 1000
		}
		done <- nil
	}()
	peak := before
	var peakG int
	for wait := true; wait; {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the server read 400 000 requests from a client that never reads")
			}
			wait = false
		case <-time.After(10 * time.Millisecond): // a sampling interval, not a wait for an event
			peak = max(peak, testutil.RSS(t))
			peakG = max(peakG, runtime.NumGoroutine())
			if _, err := good.Call(within(t), "echo", []byte("hi")); err != nil {
				t.Fatalf("another client, meanwhile: %v", err)
			}
		}
	}
	testutil.Eventually(t, 10*time.Second, "the connection dropped and its goroutines gone", func() error {
		if n := f.srv.Conns(); n != 1 {
			return fmt.Errorf("%d connections", n)
		}
		if n := runtime.NumGoroutine(); n > goroutines+2 {
			return fmt.Errorf("%d goroutines, %d before", n, goroutines)
		}
		return nil
	})
	runtime.GC()
	debug.FreeOSMemory()
	after := testutil.RSS(t)
	t.Logf("the client sent %d requests before it was dropped; server RSS %d MB before, %d MB at most, %d MB after; at most %d goroutines (%d before)",
		sent, before>>20, peak>>20, after>>20, peakG, goroutines)
	if grew := peak - before; grew > 100<<20 {
		t.Errorf("the server grew by %d MB", grew>>20)
	}
	if peakG > goroutines+2*DefaultMaxQueued+16 {
		t.Errorf("%d goroutines at most, %d before: more than the queue allows", peakG, goroutines)
	}
	if !strings.Contains(f.logs.String(), "has not read its replies") {
		t.Errorf("the drop was not logged:\n%s", f.logs.String())
	}
	if _, err := good.Call(within(t), "echo", []byte("hi")); err != nil {
		t.Fatalf("another client, after: %v", err)
	}
}

func TestRefusedUID(t *testing.T) {
	f := serve(t, Options{AllowUIDs: []int{os.Getuid() + 12345}})
	c := dial(t, f.path, Options{})
	if _, err := c.Call(within(t), "echo", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call from a refused uid: %v", err)
	}
	if !strings.Contains(f.logs.String(), "uid not allowed") {
		t.Errorf("refusal not logged with its reason:\n%s", f.logs.String())
	}
}

// A real peer process of another uid (needs root to start one).
func TestPeerOfAnotherUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root can start a process of another uid here")
	}
	f := serve(t, Options{})
	if err := os.Chmod(filepath.Dir(f.path), 0o711); err != nil { // let the peer reach the socket file
		t.Fatal(err)
	}
	if err := os.Chmod(f.path, 0o666); err != nil {
		t.Fatal(err)
	}
	// The test binary sits in a private build directory: give the peer a copy it can run.
	exe, _ := os.Executable()
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "udspeer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	peer := filepath.Join(dir, "peer")
	if err := os.WriteFile(peer, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(peer)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	c := proc.StartCommand(t, cmd, proc.Options{MergeStderr: true, Env: []string{proc.HelperEnv("dial"), "VNRPC_SOCK=" + f.path}})
	err = c.Wait()
	out := c.Tail(20)
	if err != nil {
		t.Fatalf("peer: %v %s", err, out)
	}
	if !strings.Contains(out, "connection closed") {
		t.Errorf("the other uid's call was not refused: %s", out)
	}
	if !strings.Contains(f.logs.String(), "peer_uid=65534") {
		t.Errorf("refusal log lacks the peer uid:\n%s", f.logs.String())
	}
}

func TestStaleAndLiveSockets(t *testing.T) {
	path := sockPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close() // a crashed server's socket file stays behind
	if _, err := os.Stat(path); err != nil {
		t.Fatal("no stale socket to test with")
	}
	srv, err := Listen(path, newTestMux(), Options{})
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	defer srv.Close()
	if _, err := Listen(path, newTestMux(), Options{}); !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), path) {
		t.Fatalf("over a live socket: %v", err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %04o", st.Mode().Perm())
	}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(open, "s"), newTestMux(), Options{}); !errors.Is(err, ErrUnsafeDir) {
		t.Fatalf("socket in a 0755 directory: %v", err)
	}
}

func fds(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

func TestNoGoroutineOrFDLeaks(t *testing.T) {
	g0, f0 := runtime.NumGoroutine(), fds(t)
	func() {
		path := sockPath(t)
		srv, err := Listen(path, newTestMux(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var cs []*Client
		for range 8 {
			c, err := Dial(context.Background(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Call(within(t), "echo", nil); err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		for _, c := range cs[:4] {
			_ = c.Close()
			_ = c.Close()
		}
		_ = srv.Close()
		for _, c := range cs[4:] {
			<-c.Done()
			_ = c.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > g0 || fds(t) > f0 {
		if time.Now().After(deadline) {
			t.Fatalf("leak: goroutines %d -> %d, fds %d -> %d", g0, runtime.NumGoroutine(), f0, fds(t))
		}
		runtime.Gosched()
	}
}

// splitReader hands out its parts in separate reads, with a deadline
// error between parts when interrupt is set.
type splitReader struct {
	parts     [][]byte
	interrupt bool
	paused    bool
}

func (s *splitReader) Read(p []byte) (int, error) {
	for len(s.parts) > 0 && len(s.parts[0]) == 0 {
		s.parts = s.parts[1:]
		if s.interrupt && !s.paused && len(s.parts) > 0 {
			s.paused = true
			return 0, os.ErrDeadlineExceeded
		}
		s.paused = false
	}
	if len(s.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.parts[0])
	s.parts[0] = s.parts[0][n:]
	return n, nil
}

// frames reads up to 16 frames from r, resuming after deadline errors,
// and returns their bodies and the error that ended the stream.
func frames(r io.Reader) ([][]byte, error) {
	fr := newFrameReader(r, 1<<16)
	var out [][]byte
	for len(out) < 16 {
		body, err := fr.next()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, append([]byte(nil), body...))
	}
	return out, nil
}

// FuzzFrame: a stream of bytes decodes into the same frames whether it
// comes in one read or split in two with a read deadline between (the
// reader resumes mid-frame), and ends with ErrMalformed, ErrFrameTooLarge
// or an EOF; what decodes re-encodes to the same callrt.
func FuzzFrame(f *testing.F) {
	f.Add(callrt.AppendRequest(nil, &callrt.Request{ID: 7, Method: "send_order", Timeout: 123, Args: []byte{1, 2, 3}}), uint8(5))
	f.Add(callrt.AppendReply(nil, &callrt.Reply{ID: 7, Code: calls.CodeApp, Msg: "no", Result: nil}), uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		at := int(cut) % (len(b) + 1)
		whole, werr := frames(&splitReader{parts: [][]byte{append([]byte(nil), b...)}})
		split, serr := frames(&splitReader{parts: [][]byte{append([]byte(nil), b[:at]...), append([]byte(nil), b[at:]...)},
			interrupt: true})
		if fmt.Sprint(whole) != fmt.Sprint(split) || fmt.Sprint(werr) != fmt.Sprint(serr) {
			t.Fatalf("split at %d: %x (%v), whole: %x (%v)", at, split, serr, whole, werr)
		}
		if werr != nil && !errors.Is(werr, ErrMalformed) && !errors.Is(werr, ErrFrameTooLarge) && !errors.Is(werr, io.EOF) {
			t.Fatalf("frames: %v", werr)
		}
		for _, body := range whole {
			q, p, err := callrt.Decode(body)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("decode: %v", err)
				}
				continue
			}
			var again []byte
			if q != nil {
				again = callrt.AppendRequest(nil, q)
			} else {
				again = callrt.AppendReply(nil, p)
			}
			q2, p2, err := callrt.Decode(again[lenPrefix:])
			wire := func(q *callrt.Request) string { // what travels; the rest says when it was decoded
				if q == nil {
					return "<nil>"
				}
				return fmt.Sprint(q.ID, q.Method, q.Timeout, q.Sent, q.Args)
			}
			if err != nil || wire(q) != wire(q2) || fmt.Sprint(p) != fmt.Sprint(p2) {
				t.Fatalf("unstable round trip: %v %v / %v %v (%v)", q, p, q2, p2, err)
			}
		}
	})
}

// TestReplyLimitApartFromRequests: a reply may be far longer than a
// request may be (every contract of a big exchange); a result over the
// reply limit is an internal error for that call only.
func TestReplyLimitApartFromRequests(t *testing.T) {
	f := serve(t, Options{MaxFrame: 1024, MaxReply: 64 << 10})
	f.mux.Handle("sized", func(_ context.Context, a []byte) ([]byte, error) {
		n, err := strconv.Atoi(string(a))
		return make([]byte, n), err
	})
	c := dial(t, f.path, Options{MaxFrame: 1024, MaxReply: 64 << 10})
	if got, err := c.Call(within(t), "sized", []byte("40000")); err != nil || len(got) != 40000 {
		t.Fatalf("a 40 kB reply under a 1 kB request limit: %d bytes, %v", len(got), err)
	}
	var re *calls.RemoteError
	if _, err := c.Call(within(t), "sized", []byte("70000")); !errors.As(err, &re) || re.Code != calls.CodeInternal ||
		!strings.Contains(re.Msg, "reply limit") {
		t.Fatalf("a reply over the reply limit: %v, want a calls.CodeInternal error", err)
	}
	if got, err := c.Call(within(t), "echo", []byte("still here")); err != nil || string(got) != "still here" {
		t.Fatalf("after the oversize reply: %q %v", got, err)
	}
	if _, err := c.Call(within(t), "echo", make([]byte, 2000)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a 2 kB request under a 1 kB limit: %v, want ErrFrameTooLarge", err)
	}
}
