package rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/lan"
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/shm"
	"github.com/vnrpc/vnrpc/uds"
)

// Event is one published event. Payload is valid only during the OnEvent call.
type Event struct {
	Seq       uint64
	Type      uint32
	Timestamp int64 // CLOCK_MONOTONIC ns at publication (ring.Nanotime)
	Payload   []byte
}

// State is a client's connection state.
type State uint8

const (
	// StateConnected: a connection is up (Transport and Epoch say which).
	StateConnected State = iota + 1
	// StateDisconnected: the connection was lost (Err says why); calls
	// fail with ErrDisconnected while the client retries with backoff.
	StateDisconnected
	// StateResync: events may have been missed (Reason: "lap", "gap",
	// "reconnect" or "new epoch"; Lost when known): re-query state.
	StateResync
)

func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateResync:
		return "resync"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// StateChange reports a change of connection state.
type StateChange struct {
	State     State
	Transport Transport // TransportLocal or TransportTCP
	Epoch     uint64
	Reason    string
	Lost      uint64
	Err       error
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// Addr is the server: tcp://HOST:PORT (its call port) or a unix
	// socket path (optionally unix:///path).
	Addr string
	// EventAddr is the server's event endpoint for TCP (default: Addr's
	// host with the event port the server announces, else 4102).
	EventAddr string
	Transport Transport
	// Curve secures TCP (lan.LoadClientCurve reads it from key files).
	Curve *lan.ClientCurve
	// Wait is how the local event reader waits (default ring.WaitBlock).
	Wait ring.Wait
	// Heartbeat is the ping interval (default 1 s); Tolerance how long the
	// server may stay silent before the client calls it lost (default 3 s).
	Heartbeat, Tolerance time.Duration
	// Poll makes local calls poll for their replies this long before
	// parking (uds.Options.Poll): lower latency for a core.
	Poll time.Duration
	// OnEvent receives events in order on one goroutine; it must not block.
	OnEvent func(Event)
	// OnState receives connection state changes, one at a time.
	OnState func(StateChange)
	Logger  *slog.Logger
}

// Client is a connection to a Server that survives the server's restarts:
// it pings, notices a lost server at once on a local socket's end and
// within the tolerance otherwise, fails calls while disconnected,
// reconnects with backoff and reports a resync. Safe for concurrent use.
type Client struct {
	opts ClientOptions
	log  *slog.Logger
	id   string

	// ctx ends when Close is called: a dial or reconnect in progress stops.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	cur       conn
	lastEpoch uint64
	closed    bool
	wg        sync.WaitGroup // the supervisor and GoRaw's goroutines

	next       atomic.Uint64 // next event sequence number expected
	serverNext atomic.Uint64 // the server's next sequence number at the last pong
	laps, lost atomic.Uint64
	stateMu    sync.Mutex // serializes OnState
}

// Dial connects (the first connection is made before Dial returns, so a
// bad address, key or version is an error here) and starts the client's
// supervisor goroutine. Close stops it.
func Dial(ctx context.Context, o ClientOptions) (*Client, error) {
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	c := &Client{opts: o, log: o.Logger, id: hex.EncodeToString(idb[:])}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cn, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.install(cn, "")
	c.wg.Add(1)
	go c.supervise()
	return c, nil
}

// connect makes one connection according to the options.
func (c *Client) connect(ctx context.Context) (conn, error) {
	o := c.opts
	if path, ok := strings.CutPrefix(o.Addr, "unix://"); ok || !strings.HasPrefix(o.Addr, "tcp://") {
		if !ok {
			path = o.Addr
		}
		if o.Transport == TransportTCP {
			return nil, fmt.Errorf("rpc: transport tcp needs a tcp:// address, not %q", o.Addr)
		}
		return c.local(ctx, path)
	}
	// Say hello over a probe connection first: the answer tells whether
	// the server shares this host, and where it publishes events.
	probe, err := lan.Dial(ctx, lan.ClientOptions{CallAddr: o.Addr, Curve: o.Curve, Logger: c.log})
	if err != nil {
		return nil, err
	}
	w, err := c.hello(ctx, probe.Call)
	_ = probe.Close()
	if err != nil {
		return nil, err
	}
	if o.Transport != TransportTCP {
		if w.Host == HostID() {
			cn, err := c.local(ctx, w.Socket)
			if err == nil {
				return cn, nil
			}
			if o.Transport == TransportLocal {
				return nil, err
			}
			c.log.Info("rpc: using tcp: the server is on this host but its local transport is out of reach", "reason", err)
		} else if o.Transport == TransportLocal {
			return nil, fmt.Errorf("rpc: transport local: the server at %s runs on another host or network namespace", o.Addr)
		}
	}
	return c.tcp(ctx, w.EventPort)
}

// local connects over the unix socket and attaches to the event ring.
func (c *Client) local(ctx context.Context, socket string) (_ conn, err error) {
	uc, err := uds.Dial(ctx, socket, uds.Options{Logger: c.log, Poll: c.opts.Poll})
	if err != nil {
		return nil, err
	}
	l := &localConn{connBase: newConnBase(), uc: uc, quit: make(chan struct{})}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	if l.w, err = c.hello(ctx, uc.Call); err != nil {
		return nil, err
	}
	w := l.w
	if l.seg, err = shm.Open(w.Segment, shm.Options{Dir: w.SegmentDir, Populate: true}); err != nil {
		return nil, err
	}
	if l.seg.Info().Epoch != w.Epoch {
		return nil, fmt.Errorf("rpc: segment %s has epoch %016x, the server says %016x", w.Segment, l.seg.Info().Epoch, w.Epoch)
	}
	seg := l.seg
	l.rd, err = ring.NewReader(seg.Bytes(), ring.ReaderOptions{Start: ring.StartOldest, Wait: c.opts.Wait,
		Liveness: func() error { return seg.Alive(c.opts.Tolerance) }})
	if err != nil {
		return nil, err
	}
	l.wg.Add(2)
	go func() { // the socket's end is the fastest sign of a dead server
		defer l.wg.Done()
		select {
		case <-uc.Done():
			l.die(fmt.Errorf("%w: %w", ErrDisconnected, uc.Err()))
		case <-l.quit:
		}
	}()
	go c.readRing(l, w.LastSeq)
	return l, nil
}

// readRing delivers ring events from seq `from` on.
func (c *Client) readRing(l *localConn, from uint64) {
	defer l.wg.Done()
	buf := make([]byte, 0, 4096)
	for {
		rec, err := l.rd.Next(buf)
		if err != nil { // apart from the hot loop: lap escapes to the heap
			if !c.ringError(l, err) {
				return
			}
			continue
		}
		buf = rec.Payload
		if rec.Seq < from {
			continue // published before this client said hello
		}
		c.next.Store(rec.Seq + 1)
		if c.opts.OnEvent != nil {
			c.opts.OnEvent(Event{Seq: rec.Seq, Type: rec.Type, Timestamp: rec.Timestamp, Payload: rec.Payload})
		}
	}
}

// ringError handles an error of the event ring's reader and reports
// whether reading goes on: after a lap it does, with the loss counted and
// a resync requested.
func (c *Client) ringError(l *localConn, err error) bool {
	var lap *ring.LapError
	switch {
	case errors.As(err, &lap):
		c.laps.Add(1)
		c.lost.Add(lap.Lost)
		c.state(StateChange{State: StateResync, Transport: TransportLocal, Epoch: l.w.Epoch, Reason: "lap", Lost: lap.Lost})
		return true
	case errors.Is(err, ring.ErrReaderClosed):
		return false
	default:
		l.die(fmt.Errorf("%w: event ring: %w", ErrDisconnected, err))
		return false
	}
}

// tcp connects over ZeroMQ with an event subscription.
func (c *Client) tcp(ctx context.Context, eventPort int) (conn, error) {
	o := c.opts
	events := o.EventAddr
	if events == "" {
		host, _, err := net.SplitHostPort(strings.TrimPrefix(o.Addr, "tcp://"))
		if err != nil {
			return nil, fmt.Errorf("rpc: address %q: %w", o.Addr, err)
		}
		if eventPort <= 0 {
			eventPort = lan.DefaultEventPort
		}
		events = "tcp://" + net.JoinHostPort(host, strconv.Itoa(eventPort))
	}
	t := &tcpConn{connBase: newConnBase()}
	lc, err := lan.Dial(ctx, lan.ClientOptions{CallAddr: o.Addr, EventAddr: events, Curve: o.Curve, Logger: c.log,
		OnEvent: func(e lan.Event) {
			c.next.Store(e.Seq + 1)
			if c.opts.OnEvent != nil {
				c.opts.OnEvent(Event(e))
			}
		},
		OnGap: func(lost uint64) {
			c.lost.Add(lost)
			c.state(StateChange{State: StateResync, Transport: TransportTCP, Epoch: t.w.Epoch, Reason: "gap", Lost: lost})
		}})
	if err != nil {
		return nil, err
	}
	t.lc = lc
	if t.w, err = c.hello(ctx, lc.Call); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (c *Client) hello(ctx context.Context, call func(context.Context, string, []byte) ([]byte, error)) (welcome, error) {
	args, err := msgpack.Marshal(hello{Version: ProtocolVersion, ClientID: c.id, Host: HostID(), PID: os.Getpid()})
	if err != nil {
		return welcome{}, err
	}
	res, err := call(ctx, MethodHello, args)
	if err != nil {
		// A version-1 server refuses with CodeBadRequest, later ones
		// with CodeVersionMismatch.
		var re *RemoteError
		if errors.As(err, &re) && (re.Code == CodeVersionMismatch ||
			re.Code == CodeBadRequest && strings.HasPrefix(re.Msg, "protocol version")) {
			return welcome{}, fmt.Errorf("%w: %s (this client speaks %d)", ErrVersion, re.Msg, ProtocolVersion)
		}
		return welcome{}, fmt.Errorf("rpc: hello: %w", err)
	}
	var w welcome
	if err := unmarshal(res, &w); err != nil {
		return welcome{}, fmt.Errorf("rpc: hello: bad welcome: %w", err)
	}
	if w.Version != ProtocolVersion {
		return welcome{}, fmt.Errorf("%w: the server speaks %d, this client %d", ErrVersion, w.Version, ProtocolVersion)
	}
	return w, nil
}

func (c *Client) install(cn conn, resync string) {
	c.mu.Lock()
	c.cur = cn
	prev := c.lastEpoch
	epoch := cn.welcome().Epoch
	c.lastEpoch = epoch
	c.mu.Unlock()
	c.log.Info("rpc: connected", "transport", cn.transport(), "epoch", fmt.Sprintf("%016x", epoch), "addr", c.opts.Addr)
	c.state(StateChange{State: StateConnected, Transport: cn.transport(), Epoch: epoch})
	if resync != "" {
		if prev != epoch {
			resync = "new epoch"
		}
		c.state(StateChange{State: StateResync, Transport: cn.transport(), Epoch: epoch, Reason: resync})
	}
}

func (c *Client) state(s StateChange) {
	if c.opts.OnState == nil {
		return
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.opts.OnState(s)
}

func (c *Client) current() conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// Transport is the transport of the connection in use, and false while
// disconnected.
func (c *Client) Transport() (Transport, bool) {
	if cn := c.current(); cn != nil {
		return cn.transport(), true
	}
	return TransportAuto, false
}

// Epoch is the epoch of the server currently connected, or 0.
func (c *Client) Epoch() uint64 {
	if cn := c.current(); cn != nil {
		return cn.welcome().Epoch
	}
	return 0
}

// supervise pings, notices a lost server and reconnects.
func (c *Client) supervise() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.Heartbeat)
	defer t.Stop()
	for {
		cn := c.current()
		if cn == nil {
			if !c.reconnect() {
				return
			}
			continue
		}
		select {
		case <-c.ctx.Done():
			return
		case <-cn.dead():
			c.lose(cn, cn.err())
		case <-t.C:
			if err := c.ping(cn); err != nil {
				c.lose(cn, err)
			}
		}
	}
}

func (c *Client) ping(cn conn) error {
	args, _ := msgpack.Marshal(ping{ClientID: c.id, Seq: c.next.Load(), Laps: c.laps.Load(), Lost: c.lost.Load()})
	res, err := cn.call(c.ctx, MethodPing, args, c.opts.Tolerance)
	if err != nil {
		return fmt.Errorf("%w: heartbeat: %w", ErrDisconnected, err)
	}
	var p pong
	if err := unmarshal(res, &p); err != nil {
		return fmt.Errorf("%w: bad heartbeat reply: %w", ErrDisconnected, err)
	}
	if p.Epoch != cn.welcome().Epoch {
		return fmt.Errorf("%w: the server restarted (epoch %016x)", ErrDisconnected, p.Epoch)
	}
	c.serverNext.Store(p.NextSeq)
	return nil
}

// Status is a client's view of its connection.
type Status struct {
	Connected bool
	Transport Transport // the connection's, while Connected
	Epoch     uint64
	NextSeq   uint64 // the next event sequence number expected
	Lag       uint64 // events the server had published that this client had not read, at the last heartbeat
	Laps      uint64 // times the local reader was lapped
	Lost      uint64 // events known lost (laps and gaps)
}

// Status reports the connection and event stream.
func (c *Client) Status() Status {
	s := Status{Epoch: c.Epoch(), NextSeq: c.next.Load(), Laps: c.laps.Load(), Lost: c.lost.Load()}
	s.Transport, s.Connected = c.Transport()
	if sn := c.serverNext.Load(); sn > s.NextSeq {
		s.Lag = sn - s.NextSeq
	}
	return s
}

func (c *Client) lose(cn conn, err error) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
	}
	c.mu.Unlock()
	cn.close()
	c.log.Warn("rpc: disconnected", "transport", cn.transport(), "err", err)
	c.state(StateChange{State: StateDisconnected, Transport: cn.transport(), Epoch: cn.welcome().Epoch, Err: err})
}

// reconnect retries with backoff until it connects (true) or the client
// closes (false). Close ends a try in progress at once: its context is
// the client's.
func (c *Client) reconnect() bool {
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-c.ctx.Done():
			return false
		case <-time.After(backoff):
		}
		c.log.Debug("rpc: reconnecting", "addr", c.opts.Addr)
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.Tolerance)
		cn, err := c.connect(ctx)
		cancel()
		if err == nil {
			if c.ctx.Err() != nil {
				cn.close()
				return false
			}
			c.install(cn, "reconnect")
			return true
		}
		if c.ctx.Err() != nil {
			return false
		}
		c.log.Debug("rpc: reconnect failed", "err", err, "next_try", backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
}

// CallRaw calls method with raw argument bytes.
func (c *Client) CallRaw(ctx context.Context, method string, args []byte) ([]byte, error) {
	return c.callRaw(ctx, method, args, 0)
}

// CallRawTimeout is CallRaw bounded by timeout as well as by ctx. Over
// the local transport the timeout costs no context timer (uds.Client's
// CallTimeout): cheaper than a context.WithTimeout per call, for callers
// that make many.
func (c *Client) CallRawTimeout(ctx context.Context, method string, args []byte, timeout time.Duration) ([]byte, error) {
	return c.callRaw(ctx, method, args, timeout)
}

func (c *Client) callRaw(ctx context.Context, method string, args []byte, timeout time.Duration) ([]byte, error) {
	cn := c.current()
	if cn == nil {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		return nil, ErrDisconnected
	}
	res, err := cn.call(ctx, method, args, timeout)
	if err != nil && lostConnection(err) {
		return nil, fmt.Errorf("%w: %s: %w", ErrDisconnected, method, err)
	}
	return res, err
}

// Call makes a typed call: req and the response travel as msgpack.
func Call[Resp, Req any](ctx context.Context, c *Client, method string, req Req) (Resp, error) {
	var resp Resp
	args, err := msgpack.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("rpc: %s: encode request: %w", method, err)
	}
	res, err := c.CallRaw(ctx, method, args)
	if err != nil {
		return resp, err
	}
	if err := unmarshal(res, &resp); err != nil {
		return resp, fmt.Errorf("rpc: %s: decode response: %w", method, err)
	}
	return resp, nil
}

// Close stops the supervisor (ending a reconnection in progress at once),
// closes the connection (pending calls fail) and waits for the client's
// goroutines. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.cancel()
	cn := c.cur
	c.cur = nil
	c.mu.Unlock()
	if cn != nil {
		cn.close() // fails calls in flight, GoRaw's among them
	}
	c.wg.Wait()
	return nil
}

// Result is the outcome of an asynchronous call.
type Result struct {
	Data []byte
	Err  error
}

// GoRaw starts a call and returns at once; the channel receives its
// result (then nothing more). The call is bounded by ctx, and Close
// fails it and waits for it.
func (c *Client) GoRaw(ctx context.Context, method string, args []byte) <-chan Result {
	ch := make(chan Result, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ch <- Result{Err: ErrClosed}
		return ch
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		res, err := c.CallRaw(ctx, method, args)
		ch <- Result{Data: res, Err: err}
	}()
	return ch
}
