package frame

import (
	"context"
	"sync"
)

// Handler serves calls. ServeCall runs on its own goroutine per request,
// so calls on one connection run concurrently and may reply in any order.
// ctx carries the request's deadline and is cancelled when the
// connection or the server closes.
type Handler interface {
	ServeCall(ctx context.Context, method string, args []byte) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, method string, args []byte) ([]byte, error)

func (f HandlerFunc) ServeCall(ctx context.Context, method string, args []byte) ([]byte, error) {
	return f(ctx, method, args)
}

// Mux routes calls to one function per method; an unknown method is a
// CodeUnknownMethod error. It is safe for concurrent use.
type Mux struct {
	mu sync.RWMutex
	m  map[string]func(ctx context.Context, args []byte) ([]byte, error)
}

// Handle registers f for method, replacing any earlier one.
func (m *Mux) Handle(method string, f func(ctx context.Context, args []byte) ([]byte, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]func(context.Context, []byte) ([]byte, error){}
	}
	m.m[method] = f
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
