package frame

import (
	"context"
	"sync"
	"time"
)

// Handler serves calls. ServeCall runs on its own goroutine per request,
// so calls on one connection run concurrently and may reply in any order.
// ctx carries the request's deadline and is cancelled when the
// connection or the server closes.
type Handler interface {
	ServeCall(ctx context.Context, method string, args []byte) ([]byte, error)
}

// Inliner is implemented by handlers that know which of their methods are
// quick and never block. A transport may run such a method on the
// connection's reader instead of a goroutine of its own, saving a
// goroutine hand-off (a cross-CPU wake-up) per call; a call behind it on
// the same connection waits until it returns. Its ctx carries the
// request's deadline but is not cancelled when the deadline passes.
type Inliner interface {
	Inline(method string) bool
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, method string, args []byte) ([]byte, error)

func (f HandlerFunc) ServeCall(ctx context.Context, method string, args []byte) ([]byte, error) {
	return f(ctx, method, args)
}

// Mux routes calls to one function per method; an unknown method is a
// CodeUnknownMethod error. It is safe for concurrent use.
type Mux struct {
	mu     sync.RWMutex
	m      map[string]func(ctx context.Context, args []byte) ([]byte, error)
	inline map[string]bool
}

// Handle registers f for method, replacing any earlier one.
func (m *Mux) Handle(method string, f func(ctx context.Context, args []byte) ([]byte, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]func(context.Context, []byte) ([]byte, error){}
	}
	m.m[method] = f
	delete(m.inline, method)
}

// HandleInline registers f for method as a quick method that never blocks
// (see Inliner), replacing any earlier one.
func (m *Mux) HandleInline(method string, f func(ctx context.Context, args []byte) ([]byte, error)) {
	m.Handle(method, f)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inline == nil {
		m.inline = map[string]bool{}
	}
	m.inline[method] = true
}

// Inline reports whether method was registered with HandleInline. An
// unknown method is inline too: its error needs no goroutine.
func (m *Mux) Inline(method string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, known := m.m[method]
	return m.inline[method] || !known
}

func (m *Mux) ServeCall(ctx context.Context, method string, args []byte) ([]byte, error) {
	m.mu.RLock()
	f, ok := m.m[method]
	m.mu.RUnlock()
	if !ok {
		return nil, Errorf(CodeUnknownMethod, "no method %q", method)
	}
	return f(ctx, args)
}

type peerKey struct{}

// WithPeer returns ctx carrying the identity of the connection a call came
// from; transports set it ("uds/7", "tcp/00a3…") before calling handlers.
func WithPeer(ctx context.Context, peer string) context.Context {
	return context.WithValue(ctx, peerKey{}, peer)
}

// Peer is the connection identity a transport put in ctx, or "".
func Peer(ctx context.Context) string {
	p, _ := ctx.Value(peerKey{}).(string)
	return p
}

// WithDeadlineNoTimer returns ctx reporting deadline d (Deadline, and Err
// once d has passed) without arming a timer: Done is ctx's own. For
// inline handlers, which never block, so nothing waits on Done for d; a
// timer per call would cost a wake-up of the runtime's poller.
func WithDeadlineNoTimer(ctx context.Context, d time.Time) context.Context {
	return deadlineCtx{ctx, d}
}

type deadlineCtx struct {
	context.Context
	d time.Time
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.d, true }

func (c deadlineCtx) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.d) {
		return context.DeadlineExceeded
	}
	return nil
}
