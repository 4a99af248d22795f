//go:build linux

package lan

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/internal/callrt"
	"github.com/vnrpc/vnrpc/internal/loglimit"
)

// ServerCurve secures a server: its key pair and the public keys of the
// clients it admits (a ZAP handler rejects every other key).
type ServerCurve struct {
	Keys       Keys
	Authorized []string
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// CallAddr and EventAddr are tcp://HOST:PORT to bind (default
	// tcp://127.0.0.1:2014 and tcp://127.0.0.1:4102; port * picks one).
	CallAddr, EventAddr string
	// Curve secures both sockets. Without it, binding anything but
	// loopback is refused with ErrInsecure unless Insecure is set.
	Curve    *ServerCurve
	Insecure bool
	// MaxInFlight bounds the calls a server runs at once (default 256).
	MaxInFlight int
	// EventHWM is the event socket's send high-water mark (default
	// 100 000 events per subscriber); events beyond it are dropped for
	// that subscriber, who sees the gap in the sequence numbers.
	EventHWM int
	// MaxSubscribers bounds the event subscribers (default 1024); a peer
	// that subscribes beyond it gets no events, and the server logs it.
	MaxSubscribers int
	// MaxMessage bounds a request (default DefaultMaxMessage): ZeroMQ
	// disconnects a peer that sends a longer one. MaxReply bounds a reply
	// (default DefaultMaxReply): one over it is replaced by a CodeInternal
	// error reply (the method ran).
	MaxMessage, MaxReply int
	Logger               *slog.Logger
}

// Server serves calls on a ROUTER socket and publishes events on a
// second ROUTER, to each peer that subscribed. One goroutine owns the sockets; handlers run on goroutines of
// their own. Close stops everything and waits.
type Server struct {
	opts      ServerOptions
	h         calls.Handler
	inl       calls.Inliner // h's, or nil
	domain    string
	callAddr  string
	eventAddr string

	ctx    context.Context
	cancel context.CancelFunc
	push   *pusher // replies to the loop

	// The event socket belongs to the publishers, not the loop: Publish
	// sends on it directly under pubMu (ZeroMQ allows a socket to move
	// between threads with a full barrier between uses), so an event costs
	// no hand-off to the loop and no wake-up of its thread.
	pubMu  sync.Mutex
	pub    *zmq.Socket // the event ROUTER; nil once closed
	pubBuf []byte
	// The subscribers: the identities of the peers that sent the
	// subscribe message, in the order they came. Publish reads what peers
	// sent (at most every subCheckEvery, a bounded batch) and sends
	// nothing while nobody subscribes: with no LAN client an event costs
	// no cgo call. A peer is dropped when ZeroMQ says it has gone.
	subs     [][]byte
	subIndex map[string]int // identity → index in subs
	subCheck int64          // when Publish last read, on the clock of Event.Timestamp
	logs     loglimit.Limiter
	sem      chan struct{}
	calls    sync.WaitGroup
	loop     sync.WaitGroup
	rbuf     []byte    // the loop's reply buffer, for inline methods
	peers    peerCache // the loop's

	mu      sync.Mutex
	closing bool // no new calls start
	closed  bool // the sender's channel is closed
	once    sync.Once

	published, dropped atomic.Uint64
}

// Listen binds both sockets and starts serving h. Each call's context
// carries the calls.Peer of the client identity it came from.
func Listen(h calls.Handler, o ServerOptions) (*Server, error) {
	if o.CallAddr == "" {
		o.CallAddr = fmt.Sprintf("tcp://127.0.0.1:%d", DefaultCallPort)
	}
	if o.EventAddr == "" {
		o.EventAddr = fmt.Sprintf("tcp://127.0.0.1:%d", DefaultEventPort)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.EventHWM <= 0 {
		o.EventHWM = 100_000
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = 1024
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.MaxReply <= 0 {
		o.MaxReply = DefaultMaxReply
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	for _, a := range []string{o.CallAddr, o.EventAddr} {
		loop, err := checkAddr(a)
		if err != nil {
			return nil, err
		}
		if !loop && o.Curve == nil {
			if !o.Insecure {
				return nil, fmt.Errorf("%w: binding %s without CURVE keys; give the server keys and "+
					"authorized clients, or set the insecure option to allow plaintext", ErrInsecure, a)
			}
			o.Logger.Warn("lan: serving PLAINTEXT on the network: anyone who reaches the port can call",
				"addr", a)
		}
	}
	if o.Curve != nil {
		if err := checkKey(o.Curve.Keys.Public); err != nil || checkKey(o.Curve.Keys.Secret) != nil {
			return nil, fmt.Errorf("lan: server CURVE keys: need a public and a secret key")
		}
	}
	s := &Server{opts: o, h: h, sem: make(chan struct{}, o.MaxInFlight)}
	s.inl, _ = h.(calls.Inliner)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.start(); err != nil {
		s.cancel()
		return nil, err
	}
	return s, nil
}

func (s *Server) start() (err error) {
	var socks []*zmq.Socket
	defer func() {
		if err != nil {
			for _, so := range socks {
				_ = so.Close()
			}
			if s.domain != "" {
				authRelease(s.domain)
			}
		}
	}()
	newSock := func(t zmq.Type, addr string) (*zmq.Socket, string, error) {
		so, err := zmq.NewSocket(t)
		if err != nil {
			return nil, "", err
		}
		socks = append(socks, so)
		_ = so.SetLinger(0)
		limit := s.opts.MaxMessage
		if t == eventSocket {
			limit = maxEventInbound
		}
		if err := so.SetMaxmsgsize(int64(limit)); err != nil {
			return nil, "", fmt.Errorf("lan: ZMQ_MAXMSGSIZE: %w", err)
		}
		if s.opts.Curve != nil {
			if err := so.ServerAuthCurve(s.domain, s.opts.Curve.Keys.Secret); err != nil {
				return nil, "", fmt.Errorf("lan: CURVE: %w", err)
			}
		}
		if t == eventSocket {
			_ = so.SetSndhwm(s.opts.EventHWM)
			_ = so.SetRcvhwm(eventInboundHWM)
			// A send to a peer that has gone fails (EHOSTUNREACH) instead
			// of vanishing, and so does one past its high-water mark
			// (EAGAIN): Publish drops the first and counts the second.
			if err := so.SetRouterMandatory(1); err != nil {
				return nil, "", fmt.Errorf("lan: ZMQ_ROUTER_MANDATORY: %w", err)
			}
		}
		if err := bindRetry(so, addr); err != nil {
			return nil, "", fmt.Errorf("lan: bind %s: %w", addr, err)
		}
		bound, _ := so.GetLastEndpoint()
		return so, bound, nil
	}
	if s.opts.Curve != nil {
		if s.domain, err = authAcquire(); err != nil {
			return err
		}
		zmq.AuthCurveAdd(s.domain, s.opts.Curve.Authorized...)
	}
	router, callAddr, err := newSock(zmq.ROUTER, s.opts.CallAddr)
	if err != nil {
		return err
	}
	pub, eventAddr, err := newSock(eventSocket, s.opts.EventAddr)
	if err != nil {
		return err
	}
	pull, inAddr, err := inprocPair("server")
	if err != nil {
		return err
	}
	socks = append(socks, pull)
	if s.push, err = newPusher(inAddr); err != nil {
		return err
	}
	w, err := newFdWait(router, pull)
	if err != nil {
		return fmt.Errorf("lan: ZMQ_FD: %w", err)
	}
	s.callAddr, s.eventAddr = callAddr, eventAddr
	s.pub, s.subIndex, s.subCheck = pub, map[string]int{}, 0
	s.loop.Add(1)
	go s.run(router, pull, w)
	return nil
}

// CallAddr and EventAddr are the bound endpoints (with the port chosen).
func (s *Server) CallAddr() string  { return s.callAddr }
func (s *Server) EventAddr() string { return s.eventAddr }

// pollBatch bounds the messages the loop takes from one socket per poll.
const pollBatch = 64

// run owns the call sockets: it reads requests and hands them to
// handlers, and sends the replies that handlers pass on. It waits on the
// sockets' ZMQ_FDs itself (fdWait): per request that is half the poll(2)s
// of zmq_poll.
func (s *Server) run(router, pull *zmq.Socket, w *fdWait) {
	defer s.loop.Done()
	defer func() {
		_ = router.Close()
		_ = pull.Close()
	}()
	for {
		if !w.idle[callSock] {
			idle, err := s.takeRequests(router)
			if err != nil {
				s.opts.Logger.Error("lan: ZMQ_EVENTS", "err", err)
				return
			}
			w.idle[callSock] = idle
		}
		if !w.idle[pullSock] {
			for range pollBatch {
				msg, err := pull.RecvMessageBytes(zmq.DONTWAIT)
				if err != nil {
					if w.idle[pullSock] = isEAGAIN(err); !w.idle[pullSock] {
						s.opts.Logger.Error("lan: receive", "err", err)
						return
					}
					break
				}
				switch {
				case len(msg) == 1 && len(msg[0]) == 0:
					return // stop
				case len(msg) == 3 && string(msg[0]) == "r": // a handler's reply
					_, _ = router.SendMessageDontwait(msg[1], msg[2])
					w.idle[callSock] = false // a send may take the router's wake-up
				}
			}
		}
		if w.idle[callSock] && w.idle[pullSock] {
			if err := w.wait(maxWait); err != nil {
				s.opts.Logger.Error("lan: poll", "err", err)
				return
			}
		}
	}
}

// takeRequests runs the requests that have arrived, up to a batch (so
// the replies queued on pull still get their turn). After each it asks
// whether more has come (one cgo call) rather than trying a receive that
// finds nothing (three). idle: ZMQ_EVENTS last said nothing waits.
func (s *Server) takeRequests(router *zmq.Socket) (idle bool, err error) {
	for range pollBatch {
		ev, err := router.GetEvents()
		if err != nil || ev&zmq.POLLIN == 0 {
			return err == nil, err
		}
		msg, err := router.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			return false, nil
		}
		s.request(router, msg)
	}
	return false, nil
}

// request decodes one [identity, body] message and runs it: an inline
// method (calls.Inliner) here, replying at once, others on a goroutine.
func (s *Server) request(router *zmq.Socket, msg [][]byte) {
	if len(msg) != 2 {
		s.warn(fmt.Sprintf("%x", msg[0]), "shape", "lan: dropping a message of unexpected shape: a request is one frame",
			"parts", len(msg))
		return
	}
	peer := s.peers.get(msg[0], s.ctx)
	req, _, err := callrt.Decode(msg[1])
	if err == nil && req == nil {
		err = fmt.Errorf("%w: a client sent a reply", calls.ErrMalformed)
	}
	if err != nil {
		// Answer what can be answered: the caller need not wait for its
		// deadline to learn that its request was malformed.
		id, ok := callrt.RequestID(msg[1])
		if ok {
			s.rbuf = callrt.AppendReply(s.rbuf, &callrt.Reply{ID: id, Code: calls.CodeBadRequest, Msg: err.Error()})
			_, _ = router.SendMessageDontwait(peer.id, s.rbuf[callrt.LenPrefix:])
			s.rbuf = callrt.Reuse(s.rbuf)
		}
		s.warn(peer.p.Name, "malformed", "lan: a malformed request", "reason", err, "answered", ok)
		return
	}
	peer.transit.Observe(req)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if s.inl != nil && s.inl.Inline(req.Method) {
		s.mu.Unlock()
		rep := &callrt.Reply{ID: req.ID}
		callrt.Exec(peer.ctx, s.h, req, true, s.opts.Logger, rep)
		s.rbuf = callrt.AppendReplyLimited(s.rbuf, rep, s.opts.MaxReply)
		_, _ = router.SendMessageDontwait(peer.id, s.rbuf[callrt.LenPrefix:])
		s.rbuf = callrt.Reuse(s.rbuf)
		return
	}
	s.calls.Add(1)
	s.mu.Unlock()
	go s.handle(peer, req)
}

func (s *Server) handle(peer *lanPeer, req *callrt.Request) {
	defer s.calls.Done()
	rep := &callrt.Reply{ID: req.ID}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
		callrt.Exec(peer.ctx, s.h, req, false, s.opts.Logger, rep)
	case <-s.ctx.Done():
		rep.Code, rep.Msg = calls.CodeShutdown, "server closing"
	}
	b := callrt.AppendReplyLimited(nil, rep, s.opts.MaxReply)
	s.send([][]byte{[]byte("r"), peer.id, b[callrt.LenPrefix:]})
}

// send hands a message to the sender unless the server is closing.
func (s *Server) send(m [][]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	return s.push.send(m)
}

// Publish sends one event to every subscriber. It does not wait for them:
// a subscriber past its high-water mark misses the event and sees the gap
// in the sequence numbers.
func (s *Server) Publish(e Event) error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if s.pub == nil {
		return ErrClosed
	}
	s.published.Add(1)
	// The event's timestamp is the clock (one read per event is enough);
	// without one, this process's monotonic clock.
	now := e.Timestamp
	if now == 0 {
		now = int64(time.Since(clockBase))
	}
	if now-s.subCheck >= int64(subCheckEvery) || now < s.subCheck {
		s.subCheck = now
		s.readSubscribers()
	}
	if len(s.subs) == 0 {
		return nil // nobody subscribes
	}
	s.pubBuf = callrt.AppendEvent(s.pubBuf[:0], (*callrt.Event)(&e))
	body := s.pubBuf[callrt.LenPrefix:]
	for i := 0; i < len(s.subs); {
		id := s.subs[i]
		_, err := s.pub.SendBytes(id, zmq.SNDMORE|zmq.DONTWAIT)
		if err == nil {
			_, err = s.pub.SendBytes(body, zmq.DONTWAIT)
		}
		switch {
		case err == nil:
		case zmq.AsErrno(err) == zmq.Errno(syscall.EHOSTUNREACH):
			s.unsubscribe(id) // gone: its place takes the last subscriber
			continue
		default:
			s.dropped.Add(1) // past its high-water mark: it sees the gap
		}
		i++
	}
	return nil
}

// The event socket and its limits on what peers send it.
const (
	eventSocket = zmq.ROUTER
	// subscribeMsg is the one message a client sends on the event socket,
	// after each connect (ZeroMQ's own "subscribe to everything").
	subscribeMsg = "\x01"
	// unsubscribeMsg stops the events to the peer that sends it.
	unsubscribeMsg = "\x00"
	// maxEventInbound bounds a message a peer sends the event socket: a
	// subscription is one byte, and the CURVE handshake's commands pass
	// through the same limit. A peer that sends more is disconnected.
	maxEventInbound = 4 << 10
	// eventInboundHWM bounds the messages queued from one peer before
	// ZeroMQ stops reading its connection, so what a peer can make the
	// server hold is eventInboundHWM × maxEventInbound.
	eventInboundHWM = 64
	// subReadBatch bounds the messages Publish reads per check, so a peer
	// flooding the event socket never stalls publishing.
	subReadBatch = 16
)

// subCheckEvery is how often Publish reads what peers sent the event
// socket. A subscriber's first events can come up to this much later
// than its subscribe message (a client takes its first event as its
// start).
const subCheckEvery = 100 * time.Microsecond

var clockBase = time.Now()

// readSubscribers takes up to subReadBatch messages that peers sent the
// event socket: [identity, subscribeMsg] adds a subscriber,
// [identity, unsubscribeMsg] removes one, and anything else is logged
// (at most once per peer and interval) and changes nothing. The server
// keeps nothing else from them. The caller holds pubMu.
func (s *Server) readSubscribers() {
	for range subReadBatch {
		msg, meta, err := s.pub.RecvMessageBytesWithMetadata(zmq.DONTWAIT, "Peer-Address")
		if err != nil {
			return
		}
		switch {
		case len(msg) == 2 && string(msg[1]) == subscribeMsg:
			s.subscribe(msg[0], meta["Peer-Address"])
		case len(msg) == 2 && string(msg[1]) == unsubscribeMsg:
			s.unsubscribe(msg[0])
		default:
			s.warn(meta["Peer-Address"], "event-port", "lan: ignoring a message on the event port: clients send only the subscribe message",
				"parts", len(msg), "bytes", len(msg[len(msg)-1]))
		}
	}
}

func (s *Server) subscribe(id []byte, peer string) {
	if _, ok := s.subIndex[string(id)]; ok {
		return
	}
	if len(s.subs) >= s.opts.MaxSubscribers {
		s.warn(peer, "subscribers-full", "lan: refusing an event subscriber: at the limit",
			"limit", s.opts.MaxSubscribers)
		return
	}
	s.subIndex[string(id)] = len(s.subs)
	s.subs = append(s.subs, id)
}

func (s *Server) unsubscribe(id []byte) {
	i, ok := s.subIndex[string(id)]
	if !ok {
		return
	}
	delete(s.subIndex, string(id))
	last := len(s.subs) - 1
	if i != last {
		s.subs[i] = s.subs[last]
		s.subIndex[string(s.subs[i])] = i
	}
	s.subs[last] = nil
	s.subs = s.subs[:last]
}

// warn logs a peer's misbehaviour, at most once per peer, kind and
// interval, with the count of lines held back.
func (s *Server) warn(peer, kind, msg string, args ...any) {
	ok, held := s.logs.Allow(peer, kind)
	if !ok {
		return
	}
	if peer == "" {
		peer = "unknown"
	}
	args = append(args, "peer", peer)
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	s.opts.Logger.Warn(msg, args...)
}

// Subscribed reports whether a LAN client subscribed to events when
// Publish last looked (it looks at most every subCheckEvery).
func (s *Server) Subscribed() bool {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	return len(s.subs) > 0
}

// Stats counts events handed to Publish, and deliveries the event socket
// refused (one per subscriber past its high-water mark per event).
func (s *Server) Stats() (published, dropped uint64) { return s.published.Load(), s.dropped.Load() }

// Close stops serving: running handlers' contexts are cancelled and
// awaited (their replies still go out), the sockets close, and the
// goroutines exit. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.cancel()
		s.calls.Wait()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if s.push != nil {
			s.push.close()
		}
		s.pubMu.Lock()
		if s.pub != nil {
			_ = s.pub.Close()
			s.pub = nil
		}
		s.pubMu.Unlock()
		s.loop.Wait()
		if s.domain != "" {
			authRelease(s.domain)
		}
	})
	return nil
}

// bindRetry binds, retrying for up to 2 s while the address is in use:
// ZeroMQ releases a closed socket's port asynchronously, so a server
// restarted in the same process can find its port still held for a moment.
func bindRetry(so *zmq.Socket, addr string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := so.Bind(addr)
		if err == nil || zmq.AsErrno(err) != zmq.Errno(syscall.EADDRINUSE) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
