// Package calls is the vocabulary of vnrpc's call protocol, shared by its
// transports (uds over a unix socket, lan over ZeroMQ) and the layer above
// them (rpc): the reply codes, the error a remote failure comes back as,
// the Handler a server serves calls with, a method Mux, and the Peer a
// call came from.
//
// A handler chooses the code its caller sees by returning an Errorf
// error; any other error is CodeApp with the error's text. On the calling
// side, a remote failure is a *RemoteError:
//
//	var mux calls.Mux
//	mux.Handle("add", func(ctx context.Context, args []byte) ([]byte, error) {
//		if len(args) != 2 {
//			return nil, calls.Errorf(calls.CodeBadRequest, "want two bytes")
//		}
//		return []byte{args[0] + args[1]}, nil
//	})
//	…
//	_, err := client.Call(ctx, "add", []byte{1})
//	var re *calls.RemoteError
//	if errors.As(err, &re) && re.Code == calls.CodeBadRequest { … }
//
// The codes are part of the wire format (docs/protocol.md); their values
// never change. Everything here is safe for concurrent use.
package calls

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrMalformed marks every message that fails to decode: a peer that
// sends one is disconnected (a unix socket) or has it dropped (ZeroMQ).
var ErrMalformed = errors.New("calls: malformed message")

// Code classifies a reply: 0 is success, the others say why a call failed.
type Code int

// Reply codes on the wire.
const (
	CodeOK               Code = 0
	CodeUnknownMethod    Code = 1 // no handler for the method
	CodeDeadlineExceeded Code = 2 // the deadline passed before the handler ran; it did not run
	CodeBadRequest       Code = 3 // the handler could not accept its arguments
	CodeInternal         Code = 4 // the handler panicked, or its result could not be sent
	CodeApp              Code = 5 // the handler returned an error
	CodeShutdown         Code = 6 // the server is stopping and did not run the request
	CodeTimedOut         Code = 7 // the handler ran past the deadline (it may have had effects)
	CodeVersionMismatch  Code = 8 // the client speaks another protocol version; nothing ran
)

func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeUnknownMethod:
		return "unknown method"
	case CodeDeadlineExceeded:
		return "deadline exceeded"
	case CodeBadRequest:
		return "bad request"
	case CodeInternal:
		return "internal error"
	case CodeApp:
		return "application error"
	case CodeShutdown:
		return "server shutting down"
	case CodeTimedOut:
		return "timed out while running"
	case CodeVersionMismatch:
		return "protocol version mismatch"
	}
	return fmt.Sprintf("code %d", int(c))
}

// RemoteError is a call's failure as the server reported it.
type RemoteError struct {
	Method string
	Code   Code
	Msg    string
}

func (e *RemoteError) Error() string {
	if e.Method == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Msg)
	}
	return fmt.Sprintf("remote call %s: %s: %s", e.Method, e.Code, e.Msg)
}

// Timeout reports whether the call's deadline passed on the server:
// before it ran (CodeDeadlineExceeded: it did not run) or while it ran
// (CodeTimedOut).
func (e *RemoteError) Timeout() bool { return e.Code == CodeDeadlineExceeded || e.Code == CodeTimedOut }

// Is makes a remote timeout match context.DeadlineExceeded, as a local one does.
func (e *RemoteError) Is(target error) bool { return target == context.DeadlineExceeded && e.Timeout() }

// Errorf returns an error a handler returns to choose the code its caller
// sees (CodeBadRequest, for example); any other error becomes CodeApp.
func Errorf(code Code, format string, a ...any) error {
	return &RemoteError{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// Handler serves calls. A transport runs ServeCall on a goroutine of its
// own per request (unless the handler marks the method inline), so calls
// on one connection run concurrently and may reply in any order. ctx
// carries the request's deadline and the Peer, and is cancelled when the
// connection or the server closes.
type Handler interface {
	ServeCall(ctx context.Context, method string, args []byte) ([]byte, error)
}

// Inliner is implemented by handlers that know which of their methods are
// quick and never block. A transport runs such a method on the
// connection's reader instead of a goroutine of its own, saving a
// goroutine hand-off (a cross-CPU wake-up) per call; a call behind it on
// the same connection waits until it returns. Its ctx carries the
// request's deadline but is not cancelled when the deadline passes.
type Inliner interface {
	Inline(method string) bool
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, method string, args []byte) ([]byte, error)

// ServeCall calls f.
func (f HandlerFunc) ServeCall(ctx context.Context, method string, args []byte) ([]byte, error) {
	return f(ctx, method, args)
}

// Func is one method's handler.
type Func func(ctx context.Context, args []byte) ([]byte, error)

// Mux routes calls to one Func per method; an unknown method is a
// CodeUnknownMethod error. It is a Handler and an Inliner, and safe for
// concurrent use. The zero Mux is empty and ready.
type Mux struct {
	mu sync.RWMutex
	m  map[string]muxEntry
}

type muxEntry struct {
	f      Func
	inline bool
}

// Handle registers f for method, replacing any earlier one.
func (m *Mux) Handle(method string, f Func) { m.set(method, f, false) }

// HandleInline registers f for method as a quick method that never
// blocks (see Inliner), replacing any earlier one.
func (m *Mux) HandleInline(method string, f Func) { m.set(method, f, true) }

func (m *Mux) set(method string, f Func, inline bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]muxEntry{}
	}
	m.m[method] = muxEntry{f, inline}
}

// Inline reports whether method was registered with HandleInline. An
// unknown method is inline too: its error needs no goroutine.
func (m *Mux) Inline(method string) bool {
	m.mu.RLock()
	e, known := m.m[method]
	m.mu.RUnlock()
	return e.inline || !known
}

// ServeCall runs method's Func.
func (m *Mux) ServeCall(ctx context.Context, method string, args []byte) ([]byte, error) {
	m.mu.RLock()
	e, ok := m.m[method]
	m.mu.RUnlock()
	if !ok {
		return nil, Errorf(CodeUnknownMethod, "no method %q", method)
	}
	return e.f(ctx, args)
}

// Peer is the connection a call came in on, as its transport knows it:
// one per accepted unix-socket connection, one per ZeroMQ client
// identity. A transport makes it once, with its name formatted then, and
// puts it in every call's context (PeerFrom). Value carries what the
// layer above attaches to the connection (rpc keeps a client's statistics
// there), read and written atomically.
type Peer struct {
	// Transport is "uds" or "tcp".
	Transport string
	// Name identifies the connection within its server: "uds/7 (pid 1234)",
	// "tcp/00a3b2c1d4".
	Name string
	// PID and UID are the peer process's, when the transport knows them
	// (the unix socket reads them with SO_PEERCRED); else 0 and -1.
	PID, UID int

	value atomic.Pointer[peerValue]
}

type peerValue struct{ v any }

// Value returns what SetValue stored, or nil.
func (p *Peer) Value() any {
	if v := p.value.Load(); v != nil {
		return v.v
	}
	return nil
}

// SetValue attaches v to the connection.
func (p *Peer) SetValue(v any) { p.value.Store(&peerValue{v}) }

type peerKey struct{}

// NewContext returns ctx carrying p; transports call it once per connection.
func NewContext(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the Peer a call came from, or nil outside a call.
func PeerFrom(ctx context.Context) *Peer {
	p, _ := ctx.Value(peerKey{}).(*Peer)
	return p
}
