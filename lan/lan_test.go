package lan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/internal/callrt"
	"github.com/vnrpc/vnrpc/internal/testutil"
)

func within(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type testHandler struct {
	calls.Mux
	release chan struct{}
	entered chan struct{}
	count   int64
	mu      sync.Mutex
}

func newHandler() *testHandler {
	h := &testHandler{release: make(chan struct{}), entered: make(chan struct{}, 4)}
	h.Handle("echo", func(_ context.Context, a []byte) ([]byte, error) { return a, nil })
	h.Handle("fail", func(context.Context, []byte) ([]byte, error) { return nil, errors.New("it broke") })
	h.Handle("count", func(context.Context, []byte) ([]byte, error) {
		h.mu.Lock()
		h.count++
		h.mu.Unlock()
		return nil, nil
	})
	h.Handle("block", func(ctx context.Context, a []byte) ([]byte, error) {
		h.entered <- struct{}{}
		select {
		case <-h.release:
			return a, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	return h
}

func listen(t testing.TB, o ServerOptions, h calls.Handler) *Server {
	t.Helper()
	if o.CallAddr == "" {
		o.CallAddr = "tcp://127.0.0.1:*"
	}
	if o.EventAddr == "" {
		o.EventAddr = "tcp://127.0.0.1:*"
	}
	s, err := Listen(h, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dial(t testing.TB, o ClientOptions) *Client {
	t.Helper()
	c, err := Dial(within(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCallsAndErrors(t *testing.T) {
	h := newHandler()
	s := listen(t, ServerOptions{}, h)
	c := dial(t, ClientOptions{CallAddr: s.CallAddr()})
	ctx := within(t)
	if got, err := c.Call(ctx, "echo", []byte("hi")); err != nil || string(got) != "hi" {
		t.Fatalf("echo: %q %v", got, err)
	}
	for method, code := range map[string]calls.Code{"nope": calls.CodeUnknownMethod, "fail": calls.CodeApp} {
		var re *calls.RemoteError
		if _, err := c.Call(ctx, method, nil); !errors.As(err, &re) || re.Code != code {
			t.Errorf("%s: %v", method, err)
		}
	}
	// Out of order: a fast call overtakes a blocked one.
	slow := c.goCall(ctx, "block", []byte("slow"), nil)
	<-h.entered
	if got, err := c.Call(ctx, "echo", []byte("fast")); err != nil || string(got) != "fast" {
		t.Fatalf("fast behind slow: %q %v", got, err)
	}
	close(h.release)
	if r := <-slow.Done; r.Err != nil || string(r.Result) != "slow" {
		t.Fatalf("slow: %q %v", r.Result, r.Err)
	}
	// Many concurrent callers, no mixed replies.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				want := fmt.Sprintf("%d/%d", i, j)
				if got, err := c.Call(ctx, "echo", []byte(want)); err != nil || string(got) != want {
					errs <- fmt.Errorf("%s: %q %v", want, got, err)
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

// TestMixedInlineAndHandlerReplies interleaves replies the server's loop
// sends itself (inline methods) with replies handler goroutines pass to it
// through pull, for many callers of several clients at once. The loop and
// the clients' leaders wait on the sockets' ZMQ_FDs, which are
// edge-triggered: a wake-up taken by one operation and not accounted for
// would leave a call waiting until its deadline.
func TestMixedInlineAndHandlerReplies(t *testing.T) {
	h := newHandler()
	h.HandleInline("iecho", func(_ context.Context, a []byte) ([]byte, error) { return a, nil })
	s := listen(t, ServerOptions{}, h)
	ctx := within(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for k := range 4 {
		c := dial(t, ClientOptions{CallAddr: s.CallAddr()})
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 300 {
					method := [2]string{"echo", "iecho"}[(i+j)%2]
					want := fmt.Sprintf("%d/%d/%d", k, i, j)
					if got, err := c.Call(ctx, method, []byte(want)); err != nil || string(got) != want {
						errs <- fmt.Errorf("%s %s: %q %v", method, want, got, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestExpiredRequestNeverRuns(t *testing.T) {
	h := newHandler()
	s := listen(t, ServerOptions{MaxInFlight: 1}, h)
	c := dial(t, ClientOptions{CallAddr: s.CallAddr()})
	stall := c.goCall(within(t), "block", nil, nil)
	<-h.entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	late := c.goCall(ctx, "count", nil, nil)
	<-ctx.Done()
	close(h.release)
	<-stall.Done
	r := <-late.Done
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Fatalf("late request: %v", r.Err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count != 0 {
		t.Fatalf("the expired request ran")
	}
}

// skewedClient is a client written from docs/protocol.md whose wall
// clock is off by offset: a raw DEALER that sends requests itself.
type skewedClient struct {
	t      *testing.T
	d      *zmq.Socket
	offset time.Duration
	id     uint64
}

func newSkewedClient(t *testing.T, addr string, offset time.Duration) *skewedClient {
	d, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	_ = d.SetLinger(0)
	if err := d.Connect(addr); err != nil {
		t.Fatal(err)
	}
	return &skewedClient{t: t, d: d, offset: offset}
}

// send sends a request whose caller waits until wait from now by its own
// clock: the request carries that deadline minus its clock's now (the
// protocol's relative timeout) and its clock's now as sent, whose offset
// the server's Transit cancels out.
func (c *skewedClient) send(method string, wait time.Duration) uint64 {
	now := time.Now().Add(c.offset)
	deadline := now.Add(wait)
	c.id++
	b := callrt.AppendRequest(nil, &callrt.Request{ID: c.id, Method: method, Timeout: deadline.Sub(now),
		Sent: callrt.Now() + int64(c.offset)})
	if _, err := c.d.SendBytes(b[callrt.LenPrefix:], 0); err != nil {
		c.t.Fatal(err)
	}
	return c.id
}

// replies reads n replies, by id.
func (c *skewedClient) replies(n int) map[uint64]*callrt.Reply {
	got := map[uint64]*callrt.Reply{}
	_ = c.d.SetRcvtimeo(10 * time.Second)
	for len(got) < n {
		b, err := c.d.RecvBytes(0)
		if err != nil {
			c.t.Fatalf("%d of %d replies: %v", len(got), n, err)
		}
		_, rep, err := callrt.Decode(b)
		if err != nil || rep == nil {
			c.t.Fatalf("not a reply: %v", err)
		}
		got[rep.ID] = rep
	}
	return got
}

// A client whose clock is 5 s ahead or behind the server's loses no call
// and gets no late call run: deadlines travel as the time the caller
// waits, and the server counts it from when the request arrived.
func TestClockOffset(t *testing.T) {
	for _, offset := range []time.Duration{-5 * time.Second, 0, 5 * time.Second} {
		t.Run(offset.String(), func(t *testing.T) {
			h := newHandler()
			s := listen(t, ServerOptions{MaxInFlight: 1}, h)
			c := newSkewedClient(t, s.CallAddr(), offset)
			echo := c.send("echo", 10*time.Second)
			if rep := c.replies(1)[echo]; rep == nil || rep.Code != calls.CodeOK {
				t.Fatalf("a call with 10 s to go: %+v", rep)
			}
			// A call that must wait behind another longer than its caller
			// does is refused, never run.
			block := c.send("block", 0)
			<-h.entered
			wait := 50 * time.Millisecond
			late := c.send("count", wait)
			<-time.After(wait) // the caller's deadline passes
			close(h.release)
			got := c.replies(2)
			if rep := got[block]; rep == nil || rep.Code != calls.CodeOK {
				t.Fatalf("the blocking call: %+v", rep)
			}
			if rep := got[late]; rep == nil || rep.Code != calls.CodeDeadlineExceeded {
				t.Fatalf("the late call: %+v, want code %d", rep, calls.CodeDeadlineExceeded)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.count != 0 {
				t.Fatal("the late call ran")
			}
		})
	}
}

// A request that took longer on the way than the peer's others (here:
// sent a second before the one ahead of it) has used that time up: with a
// 500 ms timeout it is refused, never run.
func TestDelayedRequestIsLate(t *testing.T) {
	h := newHandler()
	s := listen(t, ServerOptions{}, h)
	c := newSkewedClient(t, s.CallAddr(), 0)
	now := callrt.Now()
	for _, q := range []*callrt.Request{
		{ID: 1, Method: "echo", Timeout: 10 * time.Second, Sent: now},
		{ID: 2, Method: "count", Timeout: 500 * time.Millisecond, Sent: now - int64(time.Second)},
		{ID: 3, Method: "echo", Timeout: 500 * time.Millisecond, Sent: now},
	} {
		b := callrt.AppendRequest(nil, q)
		if _, err := c.d.SendBytes(b[callrt.LenPrefix:], 0); err != nil {
			t.Fatal(err)
		}
	}
	got := map[uint64]calls.Code{}
	for id, rep := range c.replies(3) {
		got[id] = rep.Code
	}
	want := map[uint64]calls.Code{1: calls.CodeOK, 2: calls.CodeDeadlineExceeded, 3: calls.CodeOK}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("codes %v, want %v", got, want)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count != 0 {
		t.Error("the late request ran")
	}
}

// A timeout of 2^64-1 ns (or any past 2^63) means no deadline, not one
// long passed; 0 means none too.
func TestHugeTimeoutIsNone(t *testing.T) {
	s := listen(t, ServerOptions{}, newHandler())
	c := newSkewedClient(t, s.CallAddr(), 0)
	var ids []uint64
	for _, raw := range []string{
		"\x96\x00\x01\xa4echo\xcf\xff\xff\xff\xff\xff\xff\xff\xff\x00\xc4\x01x", // 2^64-1
		"\x96\x00\x02\xa4echo\xcf\x80\x00\x00\x00\x00\x00\x00\x00\x00\xc4\x01x", // 2^63
		"\x96\x00\x03\xa4echo\x00\x00\xc4\x01x",                                 // 0
	} {
		if _, err := c.d.SendBytes([]byte(raw), 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, uint64(len(ids)+1))
	}
	got := c.replies(len(ids))
	for _, id := range ids {
		if rep := got[id]; rep.Code != calls.CodeOK || string(rep.Result) != "x" {
			t.Errorf("request %d: %+v", id, rep)
		}
	}
}

// A malformed request whose id can be read is answered with
// CodeBadRequest instead of leaving its caller to wait; one whose id
// cannot be read is dropped.
func TestMalformedRequestIsAnswered(t *testing.T) {
	s := listen(t, ServerOptions{}, newHandler())
	c := newSkewedClient(t, s.CallAddr(), 0)
	for _, raw := range []string{
		"\x96\x00\xff\xa4echo\x00\x00\xc4\x00",     // a negative id: dropped
		"\x96\x00\x07\xa4echo\xc0\x00\xc4\x00",     // a nil timeout
		"\x96\x00\x08\xa4echo\xff\x00\xc4\x00",     // a negative timeout
		"\x96\x00\x09\xc4\x04echo\x00\x00\xa1x",    // method as bin, args as str: fine
		"\x96\x00\x0a\xa4echo\x00\x00\xc4\x00\xc0", // trailing bytes
	} {
		if _, err := c.d.SendBytes([]byte(raw), 0); err != nil {
			t.Fatal(err)
		}
	}
	got := map[uint64]calls.Code{}
	for id, rep := range c.replies(4) {
		got[id] = rep.Code
	}
	want := map[uint64]calls.Code{7: calls.CodeBadRequest, 8: calls.CodeBadRequest, 9: calls.CodeOK, 10: calls.CodeBadRequest}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("codes %v, want %v", got, want)
	}
}

// awaitSubscription publishes probe events (sequence numbers from seq on)
// until one arrives: a subscription is live then. It returns the
// test's 10 s deadline, started before the probes.
func awaitSubscription(t *testing.T, s *Server, arrived <-chan struct{}, seq uint64) <-chan time.Time {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for ; ; seq++ {
		if err := s.Publish(Event{Seq: seq, Type: 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-arrived:
			return deadline
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatal("no event reached the subscriber")
		}
	}
}

func TestEventsAndGaps(t *testing.T) {
	s := listen(t, ServerOptions{}, newHandler())
	var mu sync.Mutex
	var got []uint64
	var lost uint64
	arrived := make(chan struct{}, 1)
	c := dial(t, ClientOptions{CallAddr: s.CallAddr(), EventAddr: s.EventAddr(),
		OnEvent: func(e Event) {
			mu.Lock()
			got = append(got, e.Seq)
			mu.Unlock()
			select {
			case arrived <- struct{}{}:
			default:
			}
		},
		OnGap: func(n uint64) { mu.Lock(); lost += n; mu.Unlock() }})
	_ = c
	deadline := awaitSubscription(t, s, arrived, 0)
	mu.Lock()
	base := got[len(got)-1]
	got, lost = nil, 0
	mu.Unlock()
	// base+1 … base+10, skipping base+5 and base+6: a gap of 2.
	for i := uint64(1); i <= 10; i++ {
		if i == 5 || i == 6 {
			continue
		}
		if err := s.Publish(Event{Seq: base + i, Type: 2, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 8 {
			break
		}
		select {
		case <-arrived:
		case <-deadline:
			t.Fatalf("only %d of 8 events arrived", n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if lost != 2 {
		t.Errorf("gap of %d reported, want 2 (seqs %v)", lost, got)
	}
}

// With no subscriber an event is not sent at all; the server notices a
// subscriber by its subscribe message, and its leaving when a send to it
// finds it gone.
func TestPublishesOnlyToSubscribers(t *testing.T) {
	s := listen(t, ServerOptions{}, newHandler())
	for i := range 3 {
		if err := s.Publish(Event{Seq: uint64(i), Type: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Subscribed() {
		t.Fatal("subscribed with no client")
	}
	arrived := make(chan struct{}, 1)
	c, err := Dial(within(t), ClientOptions{CallAddr: s.CallAddr(), EventAddr: s.EventAddr(),
		OnEvent: func(Event) {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := awaitSubscription(t, s, arrived, 3)
	if !s.Subscribed() {
		t.Fatal("an event arrived but the server does not count a subscriber")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1000); s.Subscribed(); seq++ {
		if err := s.Publish(Event{Seq: seq, Type: 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-deadline:
			t.Fatal("the server still counts a subscriber after it left")
		case <-time.After(time.Millisecond):
		}
	}
}

// A server restarted on the same ports gets the client's events
// subscription again: the client subscribes after every handshake.
func TestResubscribesAfterReconnect(t *testing.T) {
	s := listen(t, ServerOptions{}, newHandler())
	callAddr, eventAddr := s.CallAddr(), s.EventAddr()
	arrived := make(chan struct{}, 1)
	dial(t, ClientOptions{CallAddr: callAddr, EventAddr: eventAddr,
		OnEvent: func(Event) {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}})
	awaitSubscription(t, s, arrived, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := listen(t, ServerOptions{CallAddr: callAddr, EventAddr: eventAddr}, newHandler())
	awaitSubscription(t, s2, arrived, 1000)
	if !s2.Subscribed() {
		t.Fatal("an event arrived but the restarted server counts no subscriber")
	}
}

// Past MaxSubscribers a subscriber gets no events, the server says so
// once, and the others are unaffected.
func TestSubscriberLimit(t *testing.T) {
	logs := &testutil.Buffer{}
	s := listen(t, ServerOptions{MaxSubscribers: 1, Logger: slog.New(slog.NewTextHandler(logs, nil))}, newHandler())
	arrived := make(chan struct{}, 1)
	last := make(chan uint64, 1<<10)
	dial(t, ClientOptions{CallAddr: s.CallAddr(), EventAddr: s.EventAddr(),
		OnEvent: func(e Event) {
			select {
			case arrived <- struct{}{}:
			default:
			}
			last <- e.Seq
		}})
	awaitSubscription(t, s, arrived, 0)
	var second sync.Mutex
	got := 0
	dial(t, ClientOptions{CallAddr: s.CallAddr(), EventAddr: s.EventAddr(),
		OnEvent: func(Event) { second.Lock(); got++; second.Unlock() }})
	testutil.Eventually(t, 10*time.Second, "the refusal logged", func() error {
		if err := s.Publish(Event{Seq: 5000, Type: 1}); err != nil {
			return err
		}
		if !strings.Contains(logs.String(), "refusing an event subscriber") {
			return errors.New("not logged")
		}
		return nil
	})
	// One more event: the first subscriber gets it, the second nothing.
	if err := s.Publish(Event{Seq: 5001, Type: 1}); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(0); seq != 5001; {
		select {
		case seq = <-last:
		case <-time.After(10 * time.Second):
			t.Fatal("the first subscriber lost its events")
		}
	}
	second.Lock()
	defer second.Unlock()
	if got != 0 {
		t.Errorf("the subscriber past the limit got %d events", got)
	}
}

func keyPair(t testing.TB) Keys {
	k, err := NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCurve(t *testing.T) {
	server, client, stranger := keyPair(t), keyPair(t), keyPair(t)
	s := listen(t, ServerOptions{Curve: &ServerCurve{Keys: server, Authorized: []string{client.Public}}}, newHandler())
	c := dial(t, ClientOptions{CallAddr: s.CallAddr(), Curve: &ClientCurve{Keys: client, ServerPublic: server.Public}})
	if got, err := c.Call(within(t), "echo", []byte("secret")); err != nil || string(got) != "secret" {
		t.Fatalf("authorized client: %q %v", got, err)
	}
	_, err := Dial(within(t), ClientOptions{CallAddr: s.CallAddr(), Curve: &ClientCurve{Keys: stranger, ServerPublic: server.Public}})
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("unknown key: %v, want ErrAuth", err)
	}
	_, err = Dial(within(t), ClientOptions{CallAddr: s.CallAddr()})
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "requires CURVE") {
		t.Fatalf("plaintext client to a CURVE server: %v, want ErrAuth saying the server requires CURVE", err)
	}
	_, err = Dial(within(t), ClientOptions{CallAddr: s.CallAddr(), Curve: &ClientCurve{Keys: client, ServerPublic: stranger.Public}})
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "wrong server public key") {
		t.Fatalf("wrong server key: %v, want ErrAuth naming the server key", err)
	}
	plain := listen(t, ServerOptions{}, newHandler())
	_, err = Dial(within(t), ClientOptions{CallAddr: plain.CallAddr(), Curve: &ClientCurve{Keys: client, ServerPublic: server.Public}})
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "does not use CURVE") {
		t.Fatalf("CURVE client to a plaintext server: %v, want ErrAuth saying the server does not use CURVE", err)
	}
}

// TestNotAServer: a peer that is not a ZeroMQ server (it hangs up, or
// answers as an HTTP server would) is a clear handshake error at once,
// not an authentication failure and not a timeout.
func TestNotAServer(t *testing.T) {
	for _, reply := range []string{"", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if reply != "" {
					_, _ = c.Read(make([]byte, 64))
					_, _ = c.Write([]byte(reply))
				}
				_ = c.Close()
			}
		}()
		_, err = Dial(within(t), ClientOptions{CallAddr: "tcp://" + l.Addr().String()})
		_ = l.Close()
		<-done
		if !errors.Is(err, ErrHandshake) || errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "not a vnrpc server") {
			t.Errorf("peer replying %q: %v, want ErrHandshake", reply, err)
		}
	}
}

func TestPlaintextOnTheNetworkRefused(t *testing.T) {
	_, err := Listen(newHandler(), ServerOptions{CallAddr: "tcp://0.0.0.0:*", EventAddr: "tcp://127.0.0.1:*"})
	if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "0.0.0.0") {
		t.Fatalf("plaintext on 0.0.0.0: %v", err)
	}
	logs := &testutil.Buffer{}
	s, err := Listen(newHandler(), ServerOptions{CallAddr: "tcp://0.0.0.0:*", EventAddr: "tcp://127.0.0.1:*", Insecure: true,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "PLAINTEXT") {
		t.Error("insecure bind not warned about")
	}
	for _, bad := range []string{"127.0.0.1:2014", "tcp://nohost", "ipc:///tmp/x"} {
		if _, err := Listen(newHandler(), ServerOptions{CallAddr: bad}); !errors.Is(err, ErrBadAddr) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Dial(ctx, ClientOptions{CallAddr: "tcp://127.0.0.1:1"}); !errors.Is(err, ErrNoServer) ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("nobody listening: %v, want ErrNoServer saying the connection was refused", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k := keyPair(t)
	pair, pub := filepath.Join(dir, "server.key"), filepath.Join(dir, "server.pub")
	if err := WriteKeys(pair, k); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeys(pub, Keys{Public: k.Public}); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeys(pair, k); err == nil {
		t.Error("an existing key file was overwritten")
	}
	back, err := ReadKeys(pair)
	if err != nil || back != k {
		t.Fatalf("read back %v %v", back, err)
	}
	if st, _ := os.Stat(pair); st.Mode().Perm() != 0o600 {
		t.Errorf("secret key file mode %04o", st.Mode().Perm())
	}
	if err := os.Chmod(pair, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeys(pair); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret: %v", err)
	}
	auth := filepath.Join(dir, "authorized")
	other := keyPair(t)
	if err := os.WriteFile(auth, []byte("# clients\n"+other.Public+"\npublic = "+k.Public+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := ReadAuthorized(auth)
	if err != nil || len(keys) != 2 || keys[0] != other.Public || keys[1] != k.Public {
		t.Fatalf("authorized %v %v", keys, err)
	}
	if err := os.WriteFile(auth, []byte("not-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAuthorized(auth); err == nil {
		t.Error("a bad authorized key was accepted")
	}
}

func TestCloseFailsPendingAndLeavesNoGoroutines(t *testing.T) {
	g0 := runtime.NumGoroutine()
	func() {
		h := newHandler()
		s, err := Listen(h, ServerOptions{CallAddr: "tcp://127.0.0.1:*", EventAddr: "tcp://127.0.0.1:*"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := Dial(within(t), ClientOptions{CallAddr: s.CallAddr(), EventAddr: s.EventAddr()})
		if err != nil {
			t.Fatal(err)
		}
		call := c.goCall(within(t), "block", nil, nil)
		<-h.entered
		_ = c.Close()
		if r := <-call.Done; !errors.Is(r.Err, ErrClosed) {
			t.Errorf("pending call after Close: %v", r.Err)
		}
		_ = c.Close()
		close(h.release)
		_ = s.Close()
		_ = s.Close()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > g0 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d -> %d", g0, runtime.NumGoroutine())
		}
		runtime.Gosched()
	}
}

// FuzzKeyFiles: any file content is read as keys or refused; nothing
// panics, and what is accepted is well formed.
func FuzzKeyFiles(f *testing.F) {
	k, err := NewKeys()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("# key\npublic = " + k.Public + "\nsecret = " + k.Secret + "\n"))
	f.Add([]byte(k.Public + "\npublic = " + k.Public + "\n"))
	f.Add([]byte("public = short\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadKeys(path); err == nil {
			if checkKey(got.Public) != nil || (got.Secret != "" && checkKey(got.Secret) != nil) {
				t.Fatalf("accepted malformed keys %+v", got)
			}
		}
		if keys, err := ReadAuthorized(path); err == nil {
			for _, key := range keys {
				if checkKey(key) != nil {
					t.Fatalf("accepted malformed key %q", key)
				}
			}
		}
	})
}

// TestMessageLimit: a request over the client's limit fails before it is
// sent; a reply may be longer than a request, up to the reply limit, over
// which it is an error reply; a peer that sends the server an oversize
// request is cut off before it runs, and the server goes on serving.
func TestMessageLimit(t *testing.T) {
	const limit = 64 << 10
	h := newHandler()
	h.Handle("big", func(context.Context, []byte) ([]byte, error) { return make([]byte, 2*limit), nil })
	h.Handle("huge", func(context.Context, []byte) ([]byte, error) { return make([]byte, 8*limit), nil })
	s := listen(t, ServerOptions{MaxMessage: limit, MaxReply: 4 * limit}, h)
	c := dial(t, ClientOptions{CallAddr: s.CallAddr(), MaxMessage: limit, MaxReply: 4 * limit})
	ctx := within(t)
	if _, err := c.Call(ctx, "echo", make([]byte, limit+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize request: %v, want ErrTooLarge", err)
	}
	if got, err := c.Call(ctx, "big", nil); err != nil || len(got) != 2*limit {
		t.Fatalf("a reply twice the request limit: %d bytes, %v", len(got), err)
	}
	var re *calls.RemoteError
	if _, err := c.Call(ctx, "huge", nil); !errors.As(err, &re) || re.Code != calls.CodeInternal ||
		!strings.Contains(re.Msg, "exceeds the reply limit") {
		t.Fatalf("oversize reply: %v, want a CodeInternal error reply", err)
	}
	if got, err := c.Call(ctx, "echo", []byte("still here")); err != nil || string(got) != "still here" {
		t.Fatalf("after the oversize calls: %q %v", got, err)
	}

	// A raw DEALER (no limit of its own) sends an oversize request, id 1,
	// then small ones until one is answered: ZeroMQ drops the connection
	// at the oversize header, the DEALER reconnects, and id 1 never runs.
	raw, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetLinger(0)
	_ = raw.SetRcvtimeo(100 * time.Millisecond)
	if err := raw.Connect(s.CallAddr()); err != nil {
		t.Fatal(err)
	}
	req := func(id uint64, args []byte) []byte {
		return callrt.AppendRequest(nil, &callrt.Request{ID: id, Method: "count", Args: args})[callrt.LenPrefix:]
	}
	if _, err := raw.SendBytes(req(1, make([]byte, 2*limit)), 0); err != nil {
		t.Fatal(err)
	}
	answered := false
	for id := uint64(2); !answered; id++ {
		if ctx.Err() != nil {
			t.Fatal("no small request answered after the oversize one")
		}
		if _, err := raw.SendBytes(req(id, nil), zmq.DONTWAIT); err != nil {
			continue // reconnecting
		}
		for {
			b, err := raw.RecvBytes(0)
			if err != nil {
				break // nothing within 100 ms: send another
			}
			_, rep, err := callrt.Decode(b)
			if err != nil || rep == nil {
				t.Fatalf("reply: %v", err)
			}
			if rep.ID == 1 {
				t.Fatal("the oversize request ran")
			}
			answered = true
		}
	}
	if got, err := c.Call(ctx, "echo", []byte("others unaffected")); err != nil || string(got) != "others unaffected" {
		t.Fatalf("after the oversize peer: %q %v", got, err)
	}
}

// TestPusherCloseAfterLoopEnded: a loop that ended on a socket error has
// closed its PULL end; closing the pusher must not wait for it (a PUSH
// with no peer blocks a plain send for good), so Close cannot hang.
func TestPusherCloseAfterLoopEnded(t *testing.T) {
	pull, addr, err := inprocPair("test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPusher(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !p.send([][]byte{[]byte("x")}) {
		t.Fatal("send to a live loop failed")
	}
	if msg, err := pull.RecvMessageBytes(0); err != nil || len(msg) != 1 || string(msg[0]) != "x" {
		t.Fatalf("loop got %q %v", msg, err)
	}
	_ = pull.Close()
	// Let the PUSH process the pipe's end: once it has, it has no peer
	// and is no longer writable.
	for deadline := time.Now().Add(10 * time.Second); ; {
		ev, err := p.s.GetEvents()
		if err != nil {
			t.Fatal(err)
		}
		if ev&zmq.POLLOUT == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the PUSH still has a peer 10 s after the PULL closed")
		}
		runtime.Gosched()
	}
	done := make(chan struct{})
	go func() { p.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pusher.close blocked on a loop that is gone")
	}
}
