package rpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/vnrpc/vnrpc/lan"
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/shm"
	"github.com/vnrpc/vnrpc/uds"
)

// Transport is how a client reaches its server.
type Transport uint8

const (
	// TransportAuto uses shared memory and the unix socket when the server
	// runs on the same host (and network namespace) and they can be
	// opened, ZeroMQ TCP otherwise. As a connection's transport (Status,
	// StateChange) it means none: not connected.
	TransportAuto Transport = iota
	// TransportLocal is shared memory (events) and the unix socket (calls).
	TransportLocal
	// TransportTCP is ZeroMQ over TCP, for events and calls.
	TransportTCP
)

func (t Transport) String() string {
	switch t {
	case TransportAuto:
		return "auto"
	case TransportLocal:
		return "local"
	case TransportTCP:
		return "tcp"
	}
	return "Transport(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText writes the transport's name (auto, local, tcp).
func (t Transport) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (t *Transport) UnmarshalText(b []byte) error {
	v, err := ParseTransport(string(b))
	if err == nil {
		*t = v
	}
	return err
}

// ParseTransport accepts auto (or empty), local and tcp.
func ParseTransport(s string) (Transport, error) {
	switch s {
	case "auto", "":
		return TransportAuto, nil
	case "local":
		return TransportLocal, nil
	case "tcp":
		return TransportTCP, nil
	}
	return 0, fmt.Errorf("rpc: transport %q: accepted values are auto, local, tcp", s)
}

// conn is one connection of a client to its server, over one transport:
// calls, an event stream delivered to the client, and a way to learn
// that the connection is lost. localConn and tcpConn implement it.
type conn interface {
	transport() Transport
	welcome() welcome
	// call makes one call; timeout > 0 bounds it as well as ctx.
	call(ctx context.Context, method string, args []byte, timeout time.Duration) ([]byte, error)
	// dead is closed once the connection is lost; err says why.
	dead() <-chan struct{}
	err() error
	// close ends the connection and waits for its goroutines; it is
	// idempotent.
	close()
}

// connBase is what both connections keep: the server's welcome and the
// connection's end.
type connBase struct {
	w         welcome
	lost      chan struct{}
	once      sync.Once
	reason    error
	closeOnce sync.Once
}

func newConnBase() connBase { return connBase{lost: make(chan struct{})} }

func (b *connBase) welcome() welcome      { return b.w }
func (b *connBase) dead() <-chan struct{} { return b.lost }
func (b *connBase) err() error            { <-b.lost; return b.reason }

// die marks the connection lost with err; the first reason is kept.
func (b *connBase) die(err error) {
	b.once.Do(func() {
		b.reason = err
		close(b.lost)
	})
}

// localConn is the same-host connection: calls over the unix socket,
// events read from the shared-memory ring by a goroutine of its own.
type localConn struct {
	connBase
	uc   *uds.Client
	seg  *shm.Segment
	rd   *ring.Reader
	quit chan struct{}
	wg   sync.WaitGroup
}

func (l *localConn) transport() Transport { return TransportLocal }

func (l *localConn) call(ctx context.Context, method string, args []byte, timeout time.Duration) ([]byte, error) {
	if timeout > 0 {
		return l.uc.CallTimeout(ctx, method, args, timeout)
	}
	return l.uc.Call(ctx, method, args)
}

func (l *localConn) close() {
	l.closeOnce.Do(func() {
		close(l.quit)
		if l.rd != nil {
			_ = l.rd.Close()
		}
		_ = l.uc.Close()
		l.wg.Wait()
		if l.seg != nil {
			_ = l.seg.Close()
		}
		l.die(ErrClosed)
	})
}

// tcpConn is the LAN connection: calls and events over ZeroMQ.
type tcpConn struct {
	connBase
	lc *lan.Client
}

func (t *tcpConn) transport() Transport { return TransportTCP }

func (t *tcpConn) call(ctx context.Context, method string, args []byte, timeout time.Duration) ([]byte, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return t.lc.Call(ctx, method, args)
}

func (t *tcpConn) close() {
	t.closeOnce.Do(func() {
		_ = t.lc.Close()
		t.die(ErrClosed)
	})
}

// lostConnection reports whether a call's error means the connection
// itself is gone (so the call was not answered and others will fail too).
func lostConnection(err error) bool {
	return errors.Is(err, uds.ErrClosed) || errors.Is(err, lan.ErrClosed) || errors.Is(err, lan.ErrNoServer)
}
