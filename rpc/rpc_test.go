package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/lan"
	"github.com/vnrpc/vnrpc/uds"
)

type addReq struct{ A, B int }
type addResp struct{ Sum int }

func within(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func segDir(t testing.TB) string {
	d, err := os.MkdirTemp("/dev/shm", "vnrpc-rpc-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func sockPath(t testing.TB) string {
	d, err := os.MkdirTemp("", "rpc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return filepath.Join(d, "rpc.sock")
}

type env struct {
	srv                     *Server
	boundCalls, boundEvents string
	keys                    *lan.ClientCurve
	addr                    string // what clients dial
	forced                  Transport
	want                    Transport // expected transport
}

// newEnv starts a server with an add method, LAN on loopback (optionally
// with CURVE), fast heartbeats, and says how the transport's clients dial.
func newEnv(t testing.TB, transport string) *env {
	t.Helper()
	o := ServerOptions{SocketPath: sockPath(t), SegmentDir: segDir(t), RingCapacity: 1 << 20,
		CallAddr: "tcp://127.0.0.1:*", EventAddr: "tcp://127.0.0.1:*", Heartbeat: 50 * time.Millisecond}
	e := &env{}
	if transport == "tcp+curve" {
		server, _ := lan.NewKeys()
		client, _ := lan.NewKeys()
		o.Curve = &lan.ServerCurve{Keys: server, Authorized: []string{client.Public}}
		e.keys = &lan.ClientCurve{Keys: client, ServerPublic: server.Public}
	}
	s := NewServer(o)
	Handle(s, "add", func(_ context.Context, r addReq) (addResp, error) { return addResp{Sum: r.A + r.B}, nil })
	Handle(s, "fail", func(context.Context, addReq) (addResp, error) { return addResp{}, errors.New("no") })
	Handle(s, "slow", func(ctx context.Context, _ addReq) (addResp, error) {
		<-ctx.Done()
		return addResp{}, ctx.Err()
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	e.srv = s
	socket, calls, events := s.Addrs()
	e.boundCalls, e.boundEvents = calls, events
	switch transport {
	case "local":
		e.addr, e.want = socket, TransportLocal
	case "auto":
		e.addr, e.want = calls, TransportLocal // a tcp address on this host: auto picks local
	default:
		e.addr, e.forced, e.want = calls, TransportTCP, TransportTCP
	}
	return e
}

func (e *env) options(t testing.TB) ClientOptions {
	_, _, events := e.srv.Addrs()
	return ClientOptions{Addr: e.addr, EventAddr: events, Transport: e.forced, Curve: e.keys,
		Heartbeat: 50 * time.Millisecond, Tolerance: 500 * time.Millisecond}
}

func (e *env) dial(t testing.TB, o ClientOptions) *Client {
	t.Helper()
	c, err := Dial(within(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var transports = []string{"local", "auto", "tcp", "tcp+curve"}

func TestCallsOverEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, tr)
			c := e.dial(t, e.options(t))
			if tr, ok := c.Transport(); !ok || tr != e.want {
				t.Fatalf("transport %v (connected %v), want %v", tr, ok, e.want)
			}
			ctx := within(t)
			r, err := Call[addResp](ctx, c, "add", addReq{2, 3})
			if err != nil || r.Sum != 5 {
				t.Fatalf("add: %+v %v", r, err)
			}
			var re *RemoteError
			if _, err := Call[addResp](ctx, c, "fail", addReq{}); !errors.As(err, &re) || re.Code != CodeApp {
				t.Errorf("fail: %v", err)
			}
			if _, err := Call[addResp](ctx, c, "nope", addReq{}); !errors.As(err, &re) || re.Code != CodeUnknownMethod {
				t.Errorf("unknown method: %v", err)
			}
			short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel()
			if _, err := Call[addResp](short, c, "slow", addReq{}); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("slow: %v", err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range 200 {
						r, err := Call[addResp](ctx, c, "add", addReq{i, j})
						if err != nil || r.Sum != i+j {
							errs <- fmt.Errorf("add(%d,%d) = %+v %v", i, j, r, err)
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
			// The server counts this client's calls under its transport.
			var st ClientStats
			for _, s := range e.srv.Stats() {
				if s.Transport == e.want && s.Calls > 0 {
					st = s
				}
			}
			if st.Calls < 1600 || st.Errors < 3 {
				t.Errorf("server stats %+v", e.srv.Stats())
			}
		})
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool, wake <-chan struct{}) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-wake:
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestEventsInOrder(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, tr)
			var mu sync.Mutex
			var seqs []uint64
			var payloads []string
			wake := make(chan struct{}, 1)
			o := e.options(t)
			o.OnEvent = func(ev Event) {
				mu.Lock()
				seqs = append(seqs, ev.Seq)
				payloads = append(payloads, string(ev.Payload))
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			c := e.dial(t, o)
			_ = c
			// A TCP subscription joins a moment after the handshake: probe until one arrives.
			waitFor(t, "the first event", func() bool {
				if _, err := e.srv.Publish(1, []byte("probe")); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				return len(seqs) > 0
			}, wake)
			const n = 500
			for i := range n {
				if _, err := e.srv.Publish(2, []byte(fmt.Sprint("event ", i))); err != nil {
					t.Fatal(err)
				}
			}
			last := fmt.Sprint("event ", n-1)
			waitFor(t, "the last event", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(payloads) > 0 && payloads[len(payloads)-1] == last
			}, wake)
			mu.Lock()
			defer mu.Unlock()
			for i := 1; i < len(seqs); i++ {
				if seqs[i] != seqs[i-1]+1 {
					t.Fatalf("sequence %d after %d", seqs[i], seqs[i-1])
				}
			}
			var events int // every published event arrived, none twice
			for _, p := range payloads {
				if strings.HasPrefix(p, "event ") {
					events++
				}
			}
			if events != n {
				t.Errorf("%d of %d events arrived", events, n)
			}
		})
	}
}

// The server stops and starts again (a new epoch): every client notices,
// reconnects over its transport and asks for a resync.
func TestServerRestart(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, tr)
			var mu sync.Mutex
			var states []StateChange
			wake := make(chan struct{}, 1)
			o := e.options(t)
			o.OnState = func(s StateChange) {
				mu.Lock()
				states = append(states, s)
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			c := e.dial(t, o)
			first := c.Epoch()
			args, _ := msgpack.Marshal(addReq{})
			inflight := c.GoRaw(within(t), "slow", args) // blocks in the handler until the server stops
			if err := e.srv.Stop(); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-inflight:
				if r.Err == nil {
					t.Error("a call in flight when the server stopped succeeded")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a call in flight when the server stopped did not end")
			}
			waitFor(t, "disconnect", func() bool { _, ok := c.Transport(); return !ok }, wake)
			if _, err := Call[addResp](within(t), c, "add", addReq{1, 1}); !errors.Is(err, ErrDisconnected) {
				t.Errorf("call while disconnected: %v", err)
			}
			// Restart on the ports first bound, as a server with fixed ports does.
			_, calls, events := e.srv.opts.SocketPath, e.boundCalls, e.boundEvents
			e.srv.opts.CallAddr, e.srv.opts.EventAddr = calls, events
			if err := e.srv.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "reconnect", func() bool { tr, ok := c.Transport(); return ok && tr == e.want }, wake)
			if c.Epoch() == first {
				t.Error("same epoch after a restart")
			}
			if r, err := Call[addResp](within(t), c, "add", addReq{1, 1}); err != nil || r.Sum != 2 {
				t.Fatalf("after reconnect: %+v %v", r, err)
			}
			// The resync is reported just after the connection is installed.
			waitFor(t, "the resync report", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for _, s := range states {
					if s.State == StateResync {
						return true
					}
				}
				return false
			}, wake)
			mu.Lock()
			defer mu.Unlock()
			// In order: lost, connected again, and a resync for the new
			// epoch (after the first connection's own changes).
			var seen []string
			for _, s := range states {
				seen = append(seen, s.State.String()+":"+s.Reason)
			}
			want := []string{"disconnected:", "connected:", "resync:new epoch"}
			i := 0
			for _, s := range seen {
				if i < len(want) && s == want[i] {
					i++
				}
			}
			if i != len(want) {
				t.Errorf("state changes %q do not hold %q in order", seen, want)
			}
		})
	}
}

func TestForcedTransportErrors(t *testing.T) {
	e := newEnv(t, "local")
	socket, _, _ := e.srv.Addrs()
	if _, err := Dial(within(t), ClientOptions{Addr: socket, Transport: TransportTCP}); err == nil {
		t.Error("tcp over a socket path accepted")
	}
	if _, err := ParseTransport("carrier-pigeon"); err == nil || !strings.Contains(err.Error(), "auto, local, tcp") {
		t.Errorf("ParseTransport: %v", err)
	}
}

func TestVersionMismatch(t *testing.T) {
	// Server side: a hello of another version is refused with a clear message.
	e := newEnv(t, "local")
	socket, _, _ := e.srv.Addrs()
	uc, err := uds.Dial(within(t), socket, uds.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for _, v := range []int{1, 99} {
		args, _ := msgpack.Marshal(hello{Version: v})
		_, err := uc.Call(within(t), MethodHello, args)
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != CodeVersionMismatch || !strings.Contains(re.Msg, fmt.Sprintf("protocol version %d;", v)) {
			t.Errorf("hello of version %d: %v, want code %d naming the version", v, err, CodeVersionMismatch)
		}
	}
	// Client side: a server that speaks another version is ErrVersion.
	var mux calls.Mux
	mux.Handle(MethodHello, func(context.Context, []byte) ([]byte, error) {
		return msgpack.Marshal(welcome{Version: 99})
	})
	path := sockPath(t)
	fake, err := uds.Listen(path, &mux, uds.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	if _, err := Dial(within(t), ClientOptions{Addr: path}); !errors.Is(err, ErrVersion) {
		t.Errorf("client against a version-99 server: %v", err)
	}
	// A server that refuses this client's version: with its own code, or
	// as a version-1 server does, with code 3 and the message.
	for _, refusal := range []error{
		calls.Errorf(CodeVersionMismatch, "protocol version %d; this server speaks 3", ProtocolVersion),
		calls.Errorf(CodeBadRequest, "protocol version %d; this server speaks 1", ProtocolVersion),
	} {
		var mux calls.Mux
		mux.Handle(MethodHello, func(context.Context, []byte) ([]byte, error) { return nil, refusal })
		path := sockPath(t)
		fake, err := uds.Listen(path, &mux, uds.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer fake.Close()
		if _, err := Dial(within(t), ClientOptions{Addr: path}); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "this server speaks") {
			t.Errorf("client refused with %v: %v, want ErrVersion with the server's message", refusal, err)
		}
	}
}

func TestManyClientsEveryTransport(t *testing.T) {
	for _, tr := range []string{"local", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, tr)
			clients, calls := 64, 1000
			if testing.Short() {
				calls = 100
			}
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := range clients {
				c := e.dial(t, e.options(t))
				wg.Add(1)
				go func() {
					defer wg.Done()
					// 64 000 calls under the race detector take a while over ZeroMQ.
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					// Half of each client's calls go out asynchronously, in flight together.
					pending := make([]<-chan Result, 0, calls/2)
					for j := range calls {
						if j%2 == 0 {
							args, _ := msgpack.Marshal(addReq{i, j})
							pending = append(pending, c.GoRaw(ctx, "add", args))
							continue
						}
						r, err := Call[addResp](ctx, c, "add", addReq{i, j})
						if err != nil || r.Sum != i+j {
							errs <- fmt.Errorf("client %d add(%d,%d): %+v %v", i, i, j, r, err)
							return
						}
					}
					for k, ch := range pending {
						res := <-ch
						var r addResp
						if res.Err != nil || msgpack.Unmarshal(res.Data, &r) != nil || r.Sum != i+2*k {
							errs <- fmt.Errorf("client %d async add(%d,%d): %+v %v", i, i, 2*k, r, res.Err)
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
		})
	}
}

func TestNoGoroutineLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		for _, tr := range []string{"local", "tcp+curve"} {
			e := newEnv(t, tr)
			c, err := Dial(within(t), e.options(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Call[addResp](within(t), c, "add", addReq{1, 2}); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
			_ = c.Close()
			_ = e.srv.Stop()
			_ = e.srv.Stop()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines %d -> %d\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

// TestCloseWhileReconnecting: Close ends a reconnection in progress at
// once. The tolerance (which bounds each try) is 30 s here: a Close that
// waited for the try to end would take that long. The client dials a tcp
// address and runs local: it notices the stop at once (the socket ends),
// and its tries then wait for a ZeroMQ handshake that never comes.
func TestCloseWhileReconnecting(t *testing.T) {
	e := newEnv(t, "auto")
	o := e.options(t)
	o.Tolerance = 30 * time.Second
	trying := make(chan struct{}, 1)
	o.Logger = slog.New(signalHandler{msg: "rpc: reconnecting", ch: trying})
	c, err := Dial(within(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-trying:
	case <-time.After(20 * time.Second):
		t.Fatal("the client never tried to reconnect")
	}
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Close returned in %v", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the reconnection attempt")
	}
}

// signalHandler is a slog handler that signals ch when a record with
// message msg is logged, and drops everything.
type signalHandler struct {
	msg string
	ch  chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
