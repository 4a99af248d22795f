package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/lan"
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/shm"
	"github.com/vnrpc/vnrpc/uds"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// SocketPath is the unix socket for local calls (default
	// DefaultSocketPath()).
	SocketPath string
	// SegmentDir and SegmentPrefix place the event ring's segment
	// (default /dev/shm, "vnrpc"); each start makes a new one.
	SegmentDir    string
	SegmentPrefix string
	// RingCapacity is the ring's data size (default 64 MiB). Start
	// allocates all of it (shm.Options.Populate), and every local client
	// maps all of it when it attaches: no page faults on the event path,
	// and a full /dev/shm is an error at Start, not a SIGBUS later.
	RingCapacity int
	// CallAddr and EventAddr serve the LAN over ZeroMQ TCP (e.g.
	// tcp://0.0.0.0:2014 and tcp://0.0.0.0:4102); empty CallAddr: no LAN.
	CallAddr, EventAddr string
	// Curve secures the LAN (lan.LoadServerCurve reads it from key
	// files); Insecure allows plaintext on a non-loopback address.
	Curve    *lan.ServerCurve
	Insecure bool
	// Heartbeat is the liveness interval (default 1 s): the segment is
	// stamped this often, and clients ping this often.
	Heartbeat time.Duration
	// Poll makes the unix-socket transport poll before parking (see uds.Options.Poll).
	Poll   time.Duration
	Logger *slog.Logger
}

// DefaultSocketPath is where a server listens unless told otherwise:
// $XDG_RUNTIME_DIR/vnrpc/rpc.sock, or /tmp/vnrpc-UID/rpc.sock.
func DefaultSocketPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "vnrpc", "rpc.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("vnrpc-%d", os.Getuid()), "rpc.sock")
}

// Server exposes registered methods over a unix socket (and ZeroMQ TCP
// when CallAddr is set) and publishes events into a shared-memory ring
// (and to LAN subscribers, with the same sequence numbers). It can be
// started, stopped and started again; each start has a new epoch.
// Its methods are safe for concurrent use.
type Server struct {
	opts ServerOptions
	log  *slog.Logger
	mux  calls.Mux

	life sync.Mutex // serializes Start and Stop; never held by handlers
	mu   sync.Mutex // guards run and clients; never held across teardown
	run  *running   // nil while stopped; changes under pubMu too, so Publish reads it under pubMu alone
	// clients is every client that said hello, by client id: their
	// statistics, which the connections update with atomics.
	clients map[string]*clientStat

	pubMu sync.Mutex    // serializes Publish; taken before mu
	next  atomic.Uint64 // sequence number of the next event
}

// running is one start of the server: its epoch's segment, ring and
// transports.
type running struct {
	epoch      uint64
	seg        *shm.Segment
	w          *ring.Writer
	stopBeat   func()
	transports []serverTransport // the unix socket first
	publishers []eventPublisher  // the transports that publish events beyond the ring
	ep         endpoints         // where the transports listen
}

// serverTransport is one way the server serves calls: the unix socket
// (local clients, whose events come from the ring) or ZeroMQ TCP (LAN
// clients).
type serverTransport interface {
	Close() error
	// listening records where the transport listens.
	listening(*endpoints)
}

// eventPublisher is a transport that carries events as well (the LAN
// event port): each event goes to it after the ring, with the ring's
// sequence number and timestamp.
type eventPublisher interface {
	Publish(lan.Event) error
}

// endpoints are where a start of the server listens.
type endpoints struct {
	socket        string
	calls, events string // the LAN's, bound
	eventPort     int    // the LAN event port, for the welcome; 0: no LAN
}

// udsTransport and lanTransport are the transports as the server sees them.
type (
	udsTransport struct{ *uds.Server }
	lanTransport struct{ *lan.Server }
)

func (t udsTransport) listening(e *endpoints) { e.socket = t.Path() }

func (t lanTransport) listening(e *endpoints) {
	e.calls, e.events = t.CallAddr(), t.EventAddr()
	if _, port, err := net.SplitHostPort(strings.TrimPrefix(e.events, "tcp://")); err == nil {
		e.eventPort, _ = strconv.Atoi(port)
	}
}

// clientStat is one client's statistics. Its connection's calls.Peer
// points to it, so a call updates it with atomics and no look-up.
type clientStat struct {
	id        string
	pid       int
	transport Transport
	since     time.Time

	calls, errors   atomic.Uint64
	lag, laps, lost atomic.Uint64
	lastSeen        atomic.Int64 // Unix ns of its last hello or ping
}

// ClientStats describes one connected client.
type ClientStats struct {
	ID        string
	PID       int
	Transport Transport
	Since     time.Time
	Calls     uint64 // calls other than the hello and heartbeats
	Errors    uint64 // calls that failed
	Lag       uint64 // events published that it had not yet read at its last ping
	Laps      uint64
	Lost      uint64
}

// NewServer returns a stopped server; register methods, then Start.
func NewServer(o ServerOptions) *Server {
	if o.SocketPath == "" {
		o.SocketPath = DefaultSocketPath()
	}
	if o.SegmentDir == "" {
		o.SegmentDir = shm.DefaultDir
	}
	if o.SegmentPrefix == "" {
		o.SegmentPrefix = "vnrpc"
	}
	if o.RingCapacity <= 0 {
		o.RingCapacity = 64 << 20
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o, log: o.Logger, clients: map[string]*clientStat{}}
	s.mux.HandleInline(MethodHello, s.hello)
	s.mux.HandleInline(MethodPing, s.ping)
	return s
}

// HandleOption modifies how a method is served.
type HandleOption func(*handleOpts)

type handleOpts struct{ inline bool }

// Inline marks a method as quick and never blocking (a lookup, a
// non-blocking send): the transport may run it on the connection's reader
// rather than a goroutine of its own, which saves a cross-CPU wake-up per
// call. Calls behind it on the same connection wait until it returns, and
// its ctx is not cancelled at the deadline; anything that may wait must
// not be Inline.
func Inline() HandleOption { return func(o *handleOpts) { o.inline = true } }

func (s *Server) register(method string, f calls.Func, opts []HandleOption) {
	var o handleOpts
	for _, opt := range opts {
		opt(&o)
	}
	if o.inline {
		s.mux.HandleInline(method, f)
	} else {
		s.mux.Handle(method, f)
	}
}

// Handle registers a typed method: the request and the response travel as
// msgpack. A request that does not decode is a CodeBadRequest error.
func Handle[Req, Resp any](s *Server, method string, f func(ctx context.Context, req Req) (Resp, error), opts ...HandleOption) {
	s.register(method, func(ctx context.Context, args []byte) ([]byte, error) {
		var req Req
		if err := unmarshal(args, &req); err != nil {
			return nil, calls.Errorf(calls.CodeBadRequest, "%s: bad arguments: %v", method, err)
		}
		resp, err := f(ctx, req)
		if err != nil {
			return nil, err
		}
		return msgpack.Marshal(resp)
	}, opts)
}

// HandleRaw registers a method on raw bytes.
func (s *Server) HandleRaw(method string, f func(ctx context.Context, args []byte) ([]byte, error), opts ...HandleOption) {
	s.register(method, f, opts)
}

// Start creates a new epoch's segment and ring, listens on the unix socket
// and, if configured, on the LAN. Segments left by crashed servers with the
// same prefix are removed first.
func (s *Server) Start() (err error) {
	s.life.Lock()
	defer s.life.Unlock()
	if running, epoch := s.Running(); running {
		return fmt.Errorf("rpc: server already running (epoch %016x)", epoch)
	}
	if removed, _ := shm.RemoveStale(s.opts.SegmentPrefix, shm.Options{Dir: s.opts.SegmentDir}); len(removed) > 0 {
		s.log.Info("rpc: removed stale segments", "segments", strings.Join(removed, ","))
	}
	r := &running{epoch: shm.NewEpoch()}
	defer func() {
		if err != nil {
			r.teardown()
		}
	}()
	name := shm.Name(s.opts.SegmentPrefix, r.epoch)
	if r.seg, err = shm.Create(name, ring.Size(s.opts.RingCapacity),
		shm.Options{Dir: s.opts.SegmentDir, Epoch: r.epoch, Populate: true}); err != nil {
		return fmt.Errorf("rpc: event segment: %w", err)
	}
	if r.w, err = ring.NewWriter(r.seg.Bytes()); err != nil {
		return err
	}
	r.stopBeat = r.seg.BeatEvery(s.opts.Heartbeat)
	h := serverHandler{s}
	us, err := uds.Listen(s.opts.SocketPath, h, uds.Options{Logger: s.log, Poll: s.opts.Poll})
	if err != nil {
		return err
	}
	r.transports = append(r.transports, udsTransport{us})
	if s.opts.CallAddr != "" {
		ls, err := lan.Listen(h, lan.ServerOptions{CallAddr: s.opts.CallAddr, EventAddr: s.opts.EventAddr,
			Curve: s.opts.Curve, Insecure: s.opts.Insecure, Logger: s.log})
		if err != nil {
			return err
		}
		r.transports = append(r.transports, lanTransport{ls})
		r.publishers = append(r.publishers, ls)
	}
	for _, t := range r.transports {
		t.listening(&r.ep)
	}
	attrs := []any{"epoch", fmt.Sprintf("%016x", r.epoch), "socket", r.ep.socket, "segment", name}
	if r.ep.calls != "" {
		attrs = append(attrs, "calls", r.ep.calls, "events", r.ep.events)
	}
	s.pubMu.Lock()
	s.mu.Lock()
	s.run = r
	s.clients = map[string]*clientStat{}
	s.next.Store(0)
	s.mu.Unlock()
	s.pubMu.Unlock()
	s.log.Info("rpc: server started", attrs...)
	return nil
}

// Stop closes the ring (readers get ring.ErrClosed), the sockets and the
// segment. The server can be started again. Stop is idempotent.
func (s *Server) Stop() error {
	s.life.Lock()
	defer s.life.Unlock()
	s.pubMu.Lock()
	s.mu.Lock()
	r := s.run
	s.run = nil
	s.mu.Unlock()
	if r == nil {
		s.pubMu.Unlock()
		return nil
	}
	_ = r.w.Close()
	r.seg.MarkClosed()
	s.pubMu.Unlock()
	// Without s.mu: closing the sockets waits for handlers, which take s.mu.
	r.teardown()
	s.log.Info("rpc: server stopped", "epoch", fmt.Sprintf("%016x", r.epoch))
	return nil
}

// teardown closes what a start made, the LAN first; parts never made
// are skipped.
func (r *running) teardown() {
	for i := len(r.transports) - 1; i >= 0; i-- {
		_ = r.transports[i].Close()
	}
	if r.stopBeat != nil {
		r.stopBeat()
	}
	if r.seg != nil {
		r.seg.MarkClosed()
		_ = r.seg.Unlink()
		_ = r.seg.Close()
	}
}

// Running reports whether the server is started, and its epoch.
func (s *Server) Running() (bool, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return false, 0
	}
	return true, s.run.epoch
}

// Publish writes one event of type typ (> 0) to the ring and to LAN
// subscribers, encoded once, and returns its sequence number. It never
// waits for readers.
func (s *Server) Publish(typ uint32, payload []byte) (uint64, error) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	r := s.run // under pubMu: see the field's comment
	if r == nil {
		return 0, ErrNotRunning
	}
	seq, err := r.w.Write(typ, payload)
	if err != nil {
		return 0, err
	}
	s.next.Store(seq + 1)
	for _, p := range r.publishers {
		_ = p.Publish(lan.Event{Seq: seq, Type: typ, Timestamp: r.w.Stamp(), Payload: payload}) // the ring's stamp: one clock read
	}
	return seq, nil
}

// serverHandler is the transports' view of the server: its methods and
// which of them are inline.
type serverHandler struct{ s *Server }

// ServeCall runs method and counts it, unless it is the hello or a
// heartbeat, in the calling client's statistics: through its
// connection's Peer, with atomics, no look-up and no lock.
func (h serverHandler) ServeCall(ctx context.Context, method string, args []byte) ([]byte, error) {
	res, err := h.s.mux.ServeCall(ctx, method, args)
	if method != MethodPing && method != MethodHello {
		if p := calls.PeerFrom(ctx); p != nil {
			if st, ok := p.Value().(*clientStat); ok {
				st.calls.Add(1)
				if err != nil {
					st.errors.Add(1)
				}
			}
		}
	}
	return res, err
}

func (h serverHandler) Inline(method string) bool { return h.s.mux.Inline(method) }

func (s *Server) hello(ctx context.Context, args []byte) ([]byte, error) {
	var h hello
	if err := unmarshal(args, &h); err != nil {
		return nil, calls.Errorf(calls.CodeBadRequest, "hello: %v", err)
	}
	peer := calls.PeerFrom(ctx)
	if h.Version != ProtocolVersion {
		name := ""
		if peer != nil {
			name = peer.Name
		}
		s.log.Warn("rpc: refused a client of another protocol version", "client_version", h.Version,
			"server_version", ProtocolVersion, "peer", name)
		return nil, calls.Errorf(calls.CodeVersionMismatch, "protocol version %d; this server speaks %d", h.Version, ProtocolVersion)
	}
	transport := TransportLocal
	if peer != nil && peer.Transport == "tcp" {
		transport = TransportTCP
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.run
	if r == nil {
		return nil, calls.Errorf(calls.CodeShutdown, "server stopping")
	}
	if h.ClientID != "" && peer != nil {
		st := s.clients[h.ClientID]
		if st == nil || st.transport != transport {
			st = &clientStat{id: h.ClientID, pid: h.PID, transport: transport, since: time.Now()}
			s.clients[h.ClientID] = st
		}
		st.lastSeen.Store(time.Now().UnixNano())
		peer.SetValue(st)
	}
	return msgpack.Marshal(welcome{Version: ProtocolVersion, Epoch: r.epoch, Host: HostID(), Socket: s.opts.SocketPath,
		Segment: r.seg.Info().Name, SegmentDir: s.opts.SegmentDir, HeartbeatMs: s.opts.Heartbeat.Milliseconds(),
		ServerPID: os.Getpid(), LastSeq: s.next.Load(), EventPort: r.ep.eventPort})
}

// NextSeq is the sequence number the next published event will get.
func (s *Server) NextSeq() uint64 { return s.next.Load() }

// ping records a client's heartbeat in its statistics (through its
// connection: no look-up) and answers with the epoch and next sequence.
func (s *Server) ping(ctx context.Context, args []byte) ([]byte, error) {
	var p ping
	if err := unmarshal(args, &p); err != nil {
		return nil, calls.Errorf(calls.CodeBadRequest, "ping: %v", err)
	}
	next := s.next.Load()
	if peer := calls.PeerFrom(ctx); peer != nil {
		if st, ok := peer.Value().(*clientStat); ok {
			st.lastSeen.Store(time.Now().UnixNano())
			st.laps.Store(p.Laps)
			st.lost.Store(p.Lost)
			st.lag.Store(0)
			if next > p.Seq {
				st.lag.Store(next - p.Seq)
			}
		}
	}
	_, epoch := s.Running()
	return msgpack.Marshal(pong{Epoch: epoch, NextSeq: next})
}

// Stats lists the clients heard from within three heartbeats, oldest first.
func (s *Server) Stats() []ClientStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	stale := time.Now().Add(-(3*s.opts.Heartbeat + time.Second)).UnixNano()
	out := make([]ClientStats, 0, len(s.clients))
	for id, c := range s.clients {
		if c.lastSeen.Load() < stale {
			delete(s.clients, id)
			continue
		}
		out = append(out, ClientStats{ID: c.id, PID: c.pid, Transport: c.transport, Since: c.since,
			Calls: c.calls.Load(), Errors: c.errors.Load(), Lag: c.lag.Load(), Laps: c.laps.Load(), Lost: c.lost.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Addrs reports where the server listens: the socket path and, with LAN,
// the bound call and event endpoints.
func (s *Server) Addrs() (socket, callAddr, eventAddr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	socket = s.opts.SocketPath
	if s.run != nil {
		callAddr, eventAddr = s.run.ep.calls, s.run.ep.events
	}
	return
}
