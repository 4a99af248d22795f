//go:build linux

package lan

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/vnrpc/vnrpc/internal/callrt"
)

// ClientCurve secures a client: its own key pair and the server's public key.
type ClientCurve struct {
	Keys         Keys
	ServerPublic string
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// CallAddr is the server's call endpoint (tcp://HOST:PORT). EventAddr,
	// if set, is its event endpoint, subscribed to everything.
	CallAddr, EventAddr string
	Curve               *ClientCurve
	// OnEvent receives each event on the client's event goroutine: it must
	// return quickly. OnGap receives the number of events lost whenever
	// the sequence numbers jump.
	OnEvent func(Event)
	OnGap   func(lost uint64)
	Logger  *slog.Logger
	// MaxMessage bounds a request (default DefaultMaxMessage): a longer
	// one fails with ErrTooLarge before it is sent. MaxReply bounds a
	// reply or an event (default DefaultMaxReply): ZeroMQ disconnects a
	// server that sends a longer one.
	MaxMessage, MaxReply int
}

// Client calls a lan Server and receives its events. Calls may be made
// from any goroutines, many at once, matched by id; a call whose context
// ends stops waiting and leaves the client usable, and its deadline
// travels with the request (the server never runs a late request).
//
// As in uds, no goroutine stands between the DEALER socket and a caller: a
// caller that finds the socket free sends on it and, while it waits, holds
// it and receives replies itself (completing other calls on the way);
// callers that find it taken pass their requests to the holder through an
// inproc socket and wait as followers, and the role passes on when the
// holder's reply has come. A single caller thus talks to ZeroMQ as a
// REQ socket's owner would. Events and handshake results are read by a
// goroutine of their own.
type Client struct {
	opts ClientOptions

	role   callrt.Role // the DEALER role: its holder owns dealer, pull and w
	dealer *zmq.Socket
	pull   *zmq.Socket // requests from followers, and Close's wake-up
	w      *fdWait     // dealer's and pull's ZMQ_FDs
	push   *pusher     // to pull
	ctl    *pusher     // stops the event goroutine

	events sync.WaitGroup
	async  sync.WaitGroup // goroutines behind Go
	hs     chan error     // the first handshake's outcome

	pending callrt.Pending
	once    sync.Once

	lastSeq uint64
	haveSeq bool

	refused atomic.Int64 // connection attempts refused (the monitor's CONNECT_RETRIED), for Dial's error
}

// Dial connects to the server and waits for the security handshake of
// the call socket: a rejected key is ErrAuth, and no handshake before
// ctx's deadline (5 s if it has none) is ErrNoServer.
func Dial(ctx context.Context, o ClientOptions) (*Client, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.MaxReply <= 0 {
		o.MaxReply = DefaultMaxReply
	}
	if _, err := checkAddr(o.CallAddr); err != nil {
		return nil, err
	}
	if o.EventAddr != "" {
		if _, err := checkAddr(o.EventAddr); err != nil {
			return nil, err
		}
	}
	if o.Curve != nil {
		if checkKey(o.Curve.ServerPublic) != nil || checkKey(o.Curve.Keys.Public) != nil || checkKey(o.Curve.Keys.Secret) != nil {
			return nil, fmt.Errorf("lan: client CURVE: need the server's public key and a client key pair")
		}
	}
	c := &Client{opts: o, hs: make(chan error, 1)}
	if err := c.start(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	select {
	case err := <-c.hs:
		if err == nil {
			return c, nil
		}
		_ = c.Close()
		return nil, err
	case <-ctx.Done():
		_ = c.Close()
		if n := c.refused.Load(); n > 0 {
			return nil, fmt.Errorf("%w at %s: connection refused (%d tries): is the server running, on that port? (%w)",
				ErrNoServer, o.CallAddr, n, ctx.Err())
		}
		return nil, fmt.Errorf("%w at %s: no ZeroMQ handshake (a host that is down, a firewall, or not a call port): %w",
			ErrNoServer, o.CallAddr, ctx.Err())
	}
}

// clientSockets are the sockets a client makes; all of them are closed if
// starting fails.
type clientSockets struct {
	all []*zmq.Socket
}

func (cs *clientSockets) add(s *zmq.Socket) *zmq.Socket {
	cs.all = append(cs.all, s)
	return s
}

func (cs *clientSockets) closeAll() {
	for _, s := range cs.all {
		_ = s.Close()
	}
}

// start makes the client's sockets (the call DEALER and the event DEALER,
// each with its monitor, and the inproc pairs) and starts the event
// goroutine.
func (c *Client) start() (err error) {
	var cs clientSockets
	defer func() {
		if err != nil {
			cs.closeAll()
		}
	}()
	dealer, mon, err := c.dialDealer(&cs)
	if err != nil {
		return err
	}
	var ev, evmon *zmq.Socket
	if c.opts.EventAddr != "" {
		if ev, evmon, err = c.subscriber(&cs); err != nil {
			return err
		}
	}
	pull, inAddr, err := inprocPair("client")
	if err != nil {
		return err
	}
	cs.add(pull)
	ctl, ctlAddr, err := inprocPair("client-ctl")
	if err != nil {
		return err
	}
	cs.add(ctl)
	if c.push, err = newPusher(inAddr); err != nil {
		return err
	}
	if c.ctl, err = newPusher(ctlAddr); err != nil {
		c.push.close()
		return err
	}
	if c.w, err = newFdWait(dealer, pull); err != nil {
		c.push.close()
		c.ctl.close()
		return fmt.Errorf("lan: ZMQ_FD: %w", err)
	}
	c.dealer, c.pull = dealer, pull
	c.events.Add(1)
	go c.watch(ev, evmon, mon, ctl)
	return nil
}

// socket makes a socket of type t with the client's message limit and
// CURVE keys.
func (c *Client) socket(cs *clientSockets, t zmq.Type) (*zmq.Socket, error) {
	s, err := zmq.NewSocket(t)
	if err != nil {
		return nil, err
	}
	cs.add(s)
	_ = s.SetLinger(0)
	if err := s.SetMaxmsgsize(int64(c.opts.MaxReply)); err != nil { // what it receives
		return nil, fmt.Errorf("lan: ZMQ_MAXMSGSIZE: %w", err)
	}
	if k := c.opts.Curve; k != nil {
		if err := s.ClientAuthCurve(k.ServerPublic, k.Keys.Public, k.Keys.Secret); err != nil {
			return nil, fmt.Errorf("lan: CURVE: %w", err)
		}
	}
	return s, nil
}

// monitored makes a socket of type t connected to addr, and the PAIR
// that reads the monitor events of its connections in events.
func (c *Client) monitored(cs *clientSockets, t zmq.Type, addr string, events zmq.Event) (so, mon *zmq.Socket, err error) {
	if so, err = c.socket(cs, t); err != nil {
		return nil, nil, err
	}
	monAddr := fmt.Sprintf("inproc://vnrpc-mon-%d", inprocSeq.Add(1))
	if err := so.Monitor(monAddr, events); err != nil {
		return nil, nil, fmt.Errorf("lan: monitor: %w", err)
	}
	if mon, err = zmq.NewSocket(zmq.PAIR); err != nil {
		return nil, nil, err
	}
	cs.add(mon)
	_ = mon.SetLinger(0)
	if err := mon.Connect(monAddr); err != nil {
		return nil, nil, err
	}
	if err := so.Connect(addr); err != nil {
		return nil, nil, fmt.Errorf("lan: connect %s: %w", addr, err)
	}
	return so, mon, nil
}

// dialDealer makes the DEALER, connected to the call address, and the PAIR
// that reads its monitor's connection and handshake events.
func (c *Client) dialDealer(cs *clientSockets) (dealer, mon *zmq.Socket, err error) {
	return c.monitored(cs, zmq.DEALER, c.opts.CallAddr, zmq.EVENT_CONNECT_RETRIED|zmq.EVENT_HANDSHAKE_SUCCEEDED|
		zmq.EVENT_HANDSHAKE_FAILED_AUTH|zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL|zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
}

// subscriber makes the event DEALER, connected to the event address, and
// the PAIR that reads its monitor's handshakes: after each, the client
// sends the subscribe message (the server knows a connection, not a
// client, so a reconnected one subscribes again).
func (c *Client) subscriber(cs *clientSockets) (ev, mon *zmq.Socket, err error) {
	if ev, mon, err = c.monitored(cs, zmq.DEALER, c.opts.EventAddr, zmq.EVENT_HANDSHAKE_SUCCEEDED); err != nil {
		return nil, nil, err
	}
	_ = ev.SetRcvhwm(0)
	return ev, mon, nil
}

// watch reads events, the event DEALER's handshakes and the call DEALER's
// handshake results until Close.
func (c *Client) watch(ev, evmon, mon, ctl *zmq.Socket) {
	defer c.events.Done()
	defer func() {
		// Stop the event DEALER's monitor before its reader goes: libzmq
		// sends monitor events with blocking sends from its I/O thread,
		// and closing the DEALER stops the monitor only when the socket
		// is reaped, later.
		if ev != nil {
			_ = ev.Monitor("", 0)
		}
		for _, s := range []*zmq.Socket{ev, evmon, mon, ctl} {
			if s != nil {
				_ = s.Close()
			}
		}
	}()
	poller := zmq.NewPoller()
	poller.Add(ctl, zmq.POLLIN)
	poller.Add(mon, zmq.POLLIN)
	if ev != nil {
		poller.Add(ev, zmq.POLLIN)
		poller.Add(evmon, zmq.POLLIN)
	}
	handshook := false
	for {
		polled, err := poller.Poll(-1)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(4) { // EINTR
				continue
			}
			c.opts.Logger.Error("lan: poll", "err", err)
			return
		}
		for _, p := range polled {
			switch p.Socket {
			case ctl:
				return
			case ev:
				for {
					msg, err := ev.RecvMessageBytes(zmq.DONTWAIT)
					if err != nil {
						break
					}
					if len(msg) == 1 {
						c.event(msg[0])
					}
				}
			case evmon:
				e, _, _, err := evmon.RecvEvent(zmq.DONTWAIT)
				if err == nil && e == zmq.EVENT_HANDSHAKE_SUCCEEDED {
					// The new connection is attached, so this goes out on it.
					if _, err := ev.SendBytes([]byte(subscribeMsg), zmq.DONTWAIT); err != nil {
						c.opts.Logger.Warn("lan: subscribe to events", "addr", c.opts.EventAddr, "err", err)
					}
				}
			case mon:
				e, _, val, err := mon.RecvEvent(zmq.DONTWAIT)
				if err != nil {
					continue
				}
				if e == zmq.EVENT_CONNECT_RETRIED { // refused, or the connection dropped: ZeroMQ tries again
					c.refused.Add(1)
					continue
				}
				herr := c.handshakeError(e, val)
				if !handshook {
					handshook = true
					c.hs <- herr
				} else if herr != nil {
					c.opts.Logger.Warn("lan: reconnect handshake failed", "err", herr)
				}
			}
		}
	}
}

// ZeroMQ's protocol error codes (zmq.h) that a failed handshake reports
// and that say more than "failed".
const (
	zmtpCryptographic     = 0x11000001 // a CURVE box did not open: the wrong server key
	zmtpMechanismMismatch = 0x11000002 // one side uses CURVE, the other does not
)

// handshakeError turns a monitor event of the call socket into the
// handshake's outcome: nil on success, otherwise an error that says what
// to fix. A peer that hangs up during the handshake (NO_DETAIL) is a
// CURVE server refusing our box when this client uses CURVE, and a peer
// that does not speak ZeroMQ at all when it does not.
func (c *Client) handshakeError(ev zmq.Event, val int) error {
	addr, curve := c.opts.CallAddr, c.opts.Curve != nil
	switch {
	case ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
		return nil
	case ev == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
		return fmt.Errorf("%w: the server at %s rejected this client's key (ZAP status %d)", ErrAuth, addr, val)
	case ev == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL && val == zmtpMechanismMismatch && curve:
		return fmt.Errorf("%w: the server at %s does not use CURVE, and this client does", ErrAuth, addr)
	case ev == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL && val == zmtpMechanismMismatch:
		return fmt.Errorf("%w: the server at %s requires CURVE: give this client the server's public key and a key pair of its own", ErrAuth, addr)
	case ev == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL && val == zmtpCryptographic:
		return fmt.Errorf("%w: the CURVE handshake with %s failed: the wrong server public key?", ErrAuth, addr)
	}
	what := fmt.Sprintf("%v", ev)
	if ev == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL {
		what = fmt.Sprintf("ZeroMQ protocol error 0x%08x", val)
	}
	if curve {
		return fmt.Errorf("%w: the peer at %s dropped the CURVE handshake (%s): the wrong server public key, or not a vnrpc server",
			ErrAuth, addr, what)
	}
	return fmt.Errorf("%w: the peer at %s dropped the ZeroMQ handshake (%s): not a vnrpc server (another service on that port?)",
		ErrHandshake, addr, what)
}

// lead holds the DEALER role until call completes or ctx ends: it
// forwards followers' requests and completes every reply that arrives.
func (c *Client) lead(ctx context.Context, call *callrt.Call) ([]byte, bool, error) {
	w := c.w
	for {
		select {
		case <-call.Done:
			return call.Result, false, call.Err
		default:
		}
		if ctx.Err() != nil && c.pending.Forget(call.ID) {
			return nil, true, ctx.Err()
		}
		if !w.idle[callSock] {
			ev, err := c.dealer.GetEvents()
			if err != nil {
				c.fail(fmt.Errorf("%w: ZMQ_EVENTS: %w", ErrClosed, err))
				continue
			}
			w.idle[callSock] = ev&zmq.POLLIN == 0
			for !w.idle[callSock] {
				msg, err := c.dealer.RecvMessageBytes(zmq.DONTWAIT)
				if err != nil {
					if w.idle[callSock] = isEAGAIN(err); !w.idle[callSock] {
						c.fail(fmt.Errorf("%w: receive: %w", ErrClosed, err))
					}
					break
				}
				if len(msg) == 1 {
					c.reply(msg[0])
				}
				if len(call.Done) > 0 {
					// Ours is in: return without the receive that would
					// find the socket empty (a cgo call); the next holder
					// of the role takes what else has come.
					break
				}
			}
			if !w.idle[callSock] {
				continue
			}
		}
		if !w.idle[pullSock] {
			for range pollBatch {
				msg, err := c.pull.RecvMessageBytes(zmq.DONTWAIT)
				if err != nil {
					if w.idle[pullSock] = isEAGAIN(err); !w.idle[pullSock] {
						c.fail(fmt.Errorf("%w: receive: %w", ErrClosed, err))
					}
					break
				}
				if len(msg) == 2 { // a follower's request; anything else is Close's wake-up
					c.send(binary.LittleEndian.Uint64(msg[0]), msg[1])
				}
			}
			continue
		}
		timeout := maxWait // wakes now and then to notice a cancellation, and bounds a missed edge
		if dl, ok := ctx.Deadline(); ok {
			timeout = int((max(time.Until(dl), 0) + time.Millisecond - 1) / time.Millisecond)
		}
		if err := w.wait(timeout); err != nil {
			c.fail(fmt.Errorf("%w: poll: %w", ErrClosed, err))
		}
	}
}

// send puts a request on the DEALER; the caller holds the role.
func (c *Client) send(id uint64, body []byte) {
	c.w.idle[callSock] = false // a send may take the DEALER's wake-up
	if _, err := c.dealer.SendBytes(body, zmq.DONTWAIT); err != nil {
		c.pending.Complete(id, nil, fmt.Errorf("%w: %w", ErrNoServer, err))
	}
}

// wait waits for call's reply, holding the DEALER role whenever it is
// free (callrt.Role).
func (c *Client) wait(ctx context.Context, call *callrt.Call) (res []byte, gaveUp bool, err error) {
	return c.role.Wait(ctx, &c.pending, call, func(ctx context.Context, call *callrt.Call) ([]byte, bool, error) {
		if c.dealer == nil { // closed: the call has failed
			<-call.Done
			return call.Result, false, call.Err
		}
		return c.lead(ctx, call)
	})
}

func (c *Client) reply(body []byte) {
	_, rep, err := callrt.Decode(body)
	if err != nil || rep == nil {
		c.opts.Logger.Warn("lan: dropping a malformed reply", "err", err)
		return
	}
	c.pending.CompleteReply(rep)
}

func (c *Client) event(body []byte) {
	e, err := callrt.DecodeEvent(body)
	if err != nil {
		c.opts.Logger.Warn("lan: dropping a malformed event", "err", err)
		return
	}
	if c.haveSeq && e.Seq != c.lastSeq+1 && e.Seq > c.lastSeq && c.opts.OnGap != nil {
		c.opts.OnGap(e.Seq - c.lastSeq - 1)
	}
	c.lastSeq, c.haveSeq = e.Seq, true
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(Event(*e))
	}
}

// goCall starts a call; done (buffered; nil: a new one) receives it when
// it completes. Close waits for it.
func (c *Client) goCall(ctx context.Context, method string, args []byte, done chan *callrt.Call) *callrt.Call {
	return callrt.Async(&c.async, c.begin(ctx, method, args), done, c.wait)
}

// begin registers a call and sends it: on the DEALER if the role is free,
// else through the holder.
func (c *Client) begin(ctx context.Context, method string, args []byte) *callrt.Call {
	call, ok := c.pending.Add(method, make(chan *callrt.Call, 1))
	if !ok {
		return call
	}
	b := callrt.AppendRequest(nil, &callrt.Request{ID: call.ID, Method: method, Timeout: callrt.Timeout(ctx), Sent: callrt.Now(), Args: args})
	if n := len(b) - callrt.LenPrefix; n > c.opts.MaxMessage {
		c.pending.Complete(call.ID, nil, fmt.Errorf("%w: request of %d bytes, limit %d", ErrTooLarge, n, c.opts.MaxMessage))
		return call
	}
	if c.role.TryLock() {
		if c.dealer == nil {
			c.pending.Complete(call.ID, nil, ErrClosed)
		} else {
			c.send(call.ID, b[callrt.LenPrefix:])
		}
		c.role.Unlock()
		return call
	}
	if !c.push.send([][]byte{binary.LittleEndian.AppendUint64(nil, call.ID), b[callrt.LenPrefix:]}) {
		c.pending.Complete(call.ID, nil, ErrClosed)
	}
	return call
}

// Call makes a call and waits for the reply or ctx's end.
func (c *Client) Call(ctx context.Context, method string, args []byte) ([]byte, error) {
	call := c.begin(ctx, method, args)
	res, gaveUp, err := c.wait(ctx, call)
	if gaveUp {
		return nil, fmt.Errorf("lan: %s: %w", method, err)
	}
	return res, err
}

func (c *Client) fail(err error) { c.pending.Fail(err) }

// Close fails pending calls with ErrClosed, closes the sockets and waits
// for the client's goroutines. It is idempotent.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.fail(ErrClosed)
		if c.push == nil { // start failed
			return
		}
		c.push.close() // wakes a holder of the DEALER role
		// Stop the DEALER's monitor before its reader (the watch goroutine)
		// goes: libzmq sends monitor events with blocking sends, from its
		// I/O thread for a retried connect, and a send to a monitor socket
		// nobody reads any more would stall every socket of the process.
		c.role.Lock()
		_ = c.dealer.Monitor("", 0)
		c.role.Unlock()
		c.ctl.close()
		c.events.Wait()
		c.async.Wait()
		c.role.Lock()
		_ = c.dealer.Close()
		_ = c.pull.Close()
		c.dealer, c.pull = nil, nil
		c.role.Unlock()
	})
	return nil
}

// Err is the error that ended the client, or nil.
func (c *Client) Err() error { return c.pending.Err() }
