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

	"github.com/vnrpc/vnrpc/internal/frame"
	"github.com/vnrpc/vnrpc/lan"
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/shm"
	"github.com/vnrpc/vnrpc/uds"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// SocketPath is the unix socket for local calls (default
	// $XDG_RUNTIME_DIR/vnrpc/rpc.sock, or /tmp/vnrpc-UID/rpc.sock).
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
	Curve               *lan.ServerCurve
	Insecure            bool
	// Heartbeat is the liveness interval (default 1 s): the segment is
	// stamped this often, and clients ping this often.
	Heartbeat time.Duration
	// Poll makes the unix-socket transport poll before parking (see uds.Options.Poll).
	Poll   time.Duration
	Logger *slog.Logger
}

// DefaultSocketPath is where a server listens unless told otherwise.
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
	mux  frame.Mux

	life     sync.Mutex // serializes Start and Stop; never held by handlers
	mu       sync.Mutex // guards the fields below; never held across teardown
	running  bool       // running, w and lanSrv change under pubMu too, so Publish reads them under pubMu alone
	epoch    uint64
	seg      *shm.Segment
	w        *ring.Writer
	stopBeat func()
	udsSrv   *uds.Server
	lanSrv   *lan.Server
	clients  map[string]*clientStat // by client id
	peers    map[string]string      // transport peer -> client id

	pubMu sync.Mutex    // serializes Publish; taken before mu
	next  atomic.Uint64 // sequence number of the next event
}

type clientStat struct {
	ClientStats
	lastSeen time.Time
}

// ClientStats describes one connected client.
type ClientStats struct {
	ID        string    `msgpack:"id"`
	PID       int       `msgpack:"pid"`
	Transport string    `msgpack:"transport"` // "local" or "tcp"
	Since     time.Time `msgpack:"since"`
	Calls     uint64    `msgpack:"calls"`
	Errors    uint64    `msgpack:"errors"`
	Lag       uint64    `msgpack:"lag"` // events published that it had not yet read at its last ping
	Laps      uint64    `msgpack:"laps"`
	Lost      uint64    `msgpack:"lost"`
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
	s := &Server{opts: o, log: o.Logger}
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

func (s *Server) register(method string, f func(ctx context.Context, args []byte) ([]byte, error), opts []HandleOption) {
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
			return nil, frame.Errorf(frame.CodeBadRequest, "%s: bad arguments: %v", method, err)
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
	epoch := shm.NewEpoch()
	name := shm.Name(s.opts.SegmentPrefix, epoch)
	seg, err := shm.Create(name, ring.Size(s.opts.RingCapacity), shm.Options{Dir: s.opts.SegmentDir, Epoch: epoch, Populate: true})
	if err != nil {
		return fmt.Errorf("rpc: event segment: %w", err)
	}
	defer func() {
		if err != nil {
			s.teardown(seg, nil, nil, nil)
		}
	}()
	w, err := ring.NewWriter(seg.Bytes())
	if err != nil {
		return err
	}
	stopBeat := seg.BeatEvery(s.opts.Heartbeat)
	udsSrv, err := uds.Listen(s.opts.SocketPath, serverHandler{s}, uds.Options{Logger: s.log, Poll: s.opts.Poll})
	if err != nil {
		stopBeat()
		return err
	}
	var lanSrv *lan.Server
	if s.opts.CallAddr != "" {
		lanSrv, err = lan.Listen(lan.ServerOptions{CallAddr: s.opts.CallAddr, EventAddr: s.opts.EventAddr,
			Curve: s.opts.Curve, Insecure: s.opts.Insecure, Logger: s.log}, serverHandler{s})
		if err != nil {
			s.teardown(nil, stopBeat, udsSrv, nil)
			return err
		}
	}
	s.pubMu.Lock()
	s.mu.Lock()
	s.running, s.epoch, s.seg, s.w, s.stopBeat, s.udsSrv, s.lanSrv = true, epoch, seg, w, stopBeat, udsSrv, lanSrv
	s.clients, s.peers = map[string]*clientStat{}, map[string]string{}
	s.next.Store(0)
	s.mu.Unlock()
	s.pubMu.Unlock()
	attrs := []any{"epoch", fmt.Sprintf("%016x", epoch), "socket", s.opts.SocketPath, "segment", name}
	if lanSrv != nil {
		attrs = append(attrs, "calls", lanSrv.CallAddr(), "events", lanSrv.EventAddr())
	}
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
	if !s.running {
		s.mu.Unlock()
		s.pubMu.Unlock()
		return nil
	}
	s.running = false
	seg, w, stopBeat, u, l, epoch := s.seg, s.w, s.stopBeat, s.udsSrv, s.lanSrv, s.epoch
	s.mu.Unlock()
	_ = w.Close()
	seg.MarkClosed()
	s.pubMu.Unlock()
	// Without s.mu: closing the sockets waits for handlers, which take s.mu.
	s.teardown(seg, stopBeat, u, l)
	s.log.Info("rpc: server stopped", "epoch", fmt.Sprintf("%016x", epoch))
	return nil
}

func (s *Server) teardown(seg *shm.Segment, stopBeat func(), u *uds.Server, l *lan.Server) {
	if l != nil {
		_ = l.Close()
	}
	if u != nil {
		_ = u.Close()
	}
	if stopBeat != nil {
		stopBeat()
	}
	if seg != nil {
		seg.MarkClosed()
		_ = seg.Unlink()
		_ = seg.Close()
	}
}

// Running reports whether the server is started, and its epoch.
func (s *Server) Running() (bool, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running, s.epoch
}

// Publish writes one event of type typ (> 0) to the ring and to LAN
// subscribers, encoded once, and returns its sequence number. It never
// waits for readers.
func (s *Server) Publish(typ uint32, payload []byte) (uint64, error) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	w, l, running := s.w, s.lanSrv, s.running // under pubMu: see the fields' comment
	if !running {
		return 0, ErrNotRunning
	}
	seq, err := w.Write(typ, payload)
	if err != nil {
		return 0, err
	}
	s.next.Store(seq + 1)
	if l != nil {
		_ = l.Publish(frame.Event{Seq: seq, Type: typ, Timestamp: w.Stamp(), Payload: payload}) // the ring's stamp: one clock read
	}
	return seq, nil
}

// serverHandler is the transports' view of the server: its methods and
// which of them are inline.
type serverHandler struct{ s *Server }

func (h serverHandler) ServeCall(ctx context.Context, method string, args []byte) ([]byte, error) {
	return h.s.serve(ctx, method, args)
}

func (h serverHandler) Inline(method string) bool { return h.s.mux.Inline(method) }

// serve counts calls per client and dispatches them.
func (s *Server) serve(ctx context.Context, method string, args []byte) ([]byte, error) {
	res, err := s.mux.ServeCall(ctx, method, args)
	if method != MethodPing && method != MethodHello {
		s.mu.Lock()
		if c := s.clients[s.peers[frame.Peer(ctx)]]; c != nil {
			c.Calls++
			if err != nil {
				c.Errors++
			}
		}
		s.mu.Unlock()
	}
	return res, err
}

func (s *Server) hello(ctx context.Context, args []byte) ([]byte, error) {
	var h Hello
	if err := unmarshal(args, &h); err != nil {
		return nil, frame.Errorf(frame.CodeBadRequest, "hello: %v", err)
	}
	if h.Version != ProtocolVersion {
		s.log.Warn("rpc: refused a client of another protocol version", "client_version", h.Version,
			"server_version", ProtocolVersion, "client", h.ClientID)
		return nil, frame.Errorf(frame.CodeBadRequest, "protocol version %d; this server speaks %d", h.Version, ProtocolVersion)
	}
	peer := frame.Peer(ctx)
	transport := "local"
	if strings.HasPrefix(peer, "tcp/") {
		transport = "tcp"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil, frame.Errorf(frame.CodeShutdown, "server stopping")
	}
	if h.ClientID != "" {
		s.peers[peer] = h.ClientID
		c := s.clients[h.ClientID]
		if c == nil || c.Transport != transport {
			c = &clientStat{ClientStats: ClientStats{ID: h.ClientID, PID: h.PID, Transport: transport, Since: time.Now()}}
			s.clients[h.ClientID] = c
		}
		c.lastSeen = time.Now()
	}
	return msgpack.Marshal(Welcome{Version: ProtocolVersion, Epoch: s.epoch, Host: HostID(), Socket: s.opts.SocketPath,
		Segment: s.seg.Info().Name, SegmentDir: s.opts.SegmentDir, HeartbeatMs: s.opts.Heartbeat.Milliseconds(),
		ServerPID: os.Getpid(), LastSeq: s.nextSeq(), EventPort: s.eventPort()})
}

// eventPort is the bound LAN event port, or 0; s.mu is held.
func (s *Server) eventPort() int {
	if s.lanSrv == nil {
		return 0
	}
	addr := s.lanSrv.EventAddr()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// nextSeq is the sequence number the next event will get.
func (s *Server) nextSeq() uint64 { return s.next.Load() }

// NextSeq is the sequence number the next published event will get.
func (s *Server) NextSeq() uint64 { return s.nextSeq() }

func (s *Server) ping(ctx context.Context, args []byte) ([]byte, error) {
	var p Ping
	if err := unmarshal(args, &p); err != nil {
		return nil, frame.Errorf(frame.CodeBadRequest, "ping: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.nextSeq()
	if c := s.clients[p.ClientID]; c != nil {
		c.lastSeen = time.Now()
		c.Laps, c.Lost = p.Laps, p.Lost
		c.Lag = 0
		if next > p.Seq {
			c.Lag = next - p.Seq
		}
	}
	return msgpack.Marshal(Pong{Epoch: s.epoch, NextSeq: next})
}

// Stats lists the clients heard from within three heartbeats, oldest first.
func (s *Server) Stats() []ClientStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ClientStats
	for id, c := range s.clients {
		if time.Since(c.lastSeen) > 3*s.opts.Heartbeat+time.Second {
			delete(s.clients, id)
			continue
		}
		out = append(out, c.ClientStats)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Addrs reports where the server listens: the socket path and, with LAN,
// the bound call and event endpoints.
func (s *Server) Addrs() (socket, calls, events string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	socket = s.opts.SocketPath
	if s.lanSrv != nil {
		calls, events = s.lanSrv.CallAddr(), s.lanSrv.EventAddr()
	}
	return
}
