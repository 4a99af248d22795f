//go:build linux

package uds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/internal/callrt"
	"github.com/vnrpc/vnrpc/internal/loglimit"
)

// Options configure a Server or a Client.
type Options struct {
	// MaxFrame bounds a request frame's body (default DefaultMaxFrame):
	// a server drops a peer that sends a longer one, and a client refuses
	// to send it (ErrFrameTooLarge).
	MaxFrame int
	// MaxReply bounds a reply frame's body (default DefaultMaxReply): a
	// server answers a call whose result is longer with a CodeInternal
	// error (the method ran), and a client drops a connection that sends
	// a longer one.
	MaxReply int
	// AllowUIDs lists the peer uids a server accepts (default: its own).
	AllowUIDs []int
	// MaxInFlight bounds the requests a server runs at once per
	// connection (default 256); more wait their turn, and their deadlines
	// are checked when their turn comes.
	MaxInFlight int
	// MaxQueued bounds the requests a server has read from one
	// connection and not yet answered (default DefaultMaxQueued, or
	// MaxInFlight if that is more): at the bound it
	// stops reading the connection until replies have gone out, so a
	// client that sends without reading cannot make it hold more.
	MaxQueued int
	// WriteTimeout is how long a server waits for a client to take a
	// reply (its socket buffer full) before it drops the connection
	// (default 10 s).
	WriteTimeout time.Duration
	// Poll, if positive, makes reads poll the socket this long before
	// parking, and makes Client.Call poll for its reply before blocking:
	// lower latency for callers that can spend a core.
	Poll time.Duration
	// Logger receives refused connections and dropped peers (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	if o.MaxReply <= 0 {
		o.MaxReply = DefaultMaxReply
	}
	if o.AllowUIDs == nil {
		o.AllowUIDs = []int{os.Getuid()}
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = max(DefaultMaxQueued, o.MaxInFlight)
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server accepts connections on a unix socket and serves their calls.
type Server struct {
	ln   *net.UnixListener
	path string
	h    calls.Handler
	inl  calls.Inliner // h's, or nil
	opts Options

	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	conns   map[*serverConn]struct{}
	connSeq uint64 // accept goroutine only
	closed  bool
	wg      sync.WaitGroup
	logs    loglimit.Limiter // what peers' mistakes may log
}

// Listen creates the socket at path and starts serving h on a goroutine
// (Close stops it and waits). Each call's context carries the
// connection's calls.Peer, with the peer's pid and uid. The socket's directory is created 0700 if
// missing, and must not be open to other users (ErrUnsafeDir); the socket
// is 0600. A socket file left by a dead server is replaced; a live one is
// ErrAddrInUse.
func Listen(path string, h calls.Handler, o Options) (*Server, error) {
	o.defaults()
	if err := privateDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := clearStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("uds: listen %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("uds: chmod %s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, path: path, h: h, opts: o, ctx: ctx, cancel: cancel, conns: map[*serverConn]struct{}{}}
	s.inl, _ = h.(calls.Inliner)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("uds: socket directory %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("uds: socket directory %s: %w", dir, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm()&0o077 != 0 || !ok || int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("%w: %s is mode %04o; want a directory of yours with mode 0700", ErrUnsafeDir, dir, st.Mode().Perm())
	}
	return nil
}

// clearStale removes a socket file nobody listens on.
func clearStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("uds: %s: %w", path, err)
	}
	if st.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("uds: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return fmt.Errorf("%w: a server is listening on %s", ErrAddrInUse, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("uds: removing stale socket %s: %w", path, err)
	}
	return nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			s.opts.Logger.Warn("uds: accept", "path", s.path, "err", err)
			continue
		}
		cred, err := peerCred(c)
		if err != nil || !slices.Contains(s.opts.AllowUIDs, int(cred.Uid)) {
			reason := "uid not allowed"
			if err != nil {
				reason = err.Error()
			}
			var uid, pid int
			if cred != nil {
				uid, pid = int(cred.Uid), int(cred.Pid)
			}
			s.log(slog.LevelWarn, fmt.Sprintf("uid %d", uid), "refused", "uds: refused a connection",
				"peer_uid", uid, "peer_pid", pid, "reason", reason)
			_ = c.Close()
			continue
		}
		s.connSeq++
		peer := &calls.Peer{Transport: "uds", Name: fmt.Sprintf("uds/%d (pid %d)", s.connSeq, cred.Pid),
			PID: int(cred.Pid), UID: int(cred.Uid)}
		sc := &serverConn{s: s, c: c, peer: peer, sem: make(chan struct{}, s.opts.MaxInFlight),
			queued: make(chan struct{}, s.opts.MaxQueued)}
		if sc.raw, err = c.SyscallConn(); err != nil {
			s.log(slog.LevelWarn, peer.Name, "refused", "uds: refused a connection", "reason", err)
			_ = c.Close()
			continue
		}
		s.log(slog.LevelInfo, peer.Name, "connect", "uds: client connected", "peer_uid", peer.UID)
		sc.ctx, sc.cancel = context.WithCancel(calls.NewContext(s.ctx, peer))
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go sc.serve()
	}
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// serverConn is one accepted connection.
type serverConn struct {
	s      *Server
	c      *net.UnixConn
	peer   *calls.Peer
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{} // requests running
	queued chan struct{} // requests read and not yet answered (MaxQueued)
	reqs   sync.WaitGroup
	raw    syscall.RawConn

	transit callrt.Transit // the reader's: its requests' time on the way

	wmu sync.Mutex
	out []byte // replies queued for one write
}

func (sc *serverConn) serve() {
	s := sc.s
	defer s.wg.Done()
	defer func() {
		sc.cancel()
		_ = sc.c.Close()
		sc.reqs.Wait()
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
	}()
	fr := newFrameReader(reader(sc.c, s.opts.Poll, nil), s.opts.MaxFrame)
	for {
		body, err := fr.next()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				s.log(slog.LevelInfo, sc.peer.Name, "disconnect", "uds: client disconnected")
			case errors.Is(err, io.ErrUnexpectedEOF):
				// A client that exits mid-write: ordinary, not a warning.
				s.log(slog.LevelInfo, sc.peer.Name, "disconnect", "uds: client disconnected mid-frame")
			case errors.Is(err, net.ErrClosed) || sc.ctx.Err() != nil:
				// The server closed it (Close, or a client not reading):
				// said where that happened.
			default:
				s.log(slog.LevelWarn, sc.peer.Name, "drop", "uds: dropping peer", "reason", err)
			}
			return
		}
		req, _, err := callrt.Decode(body)
		if err == nil && req == nil {
			err = fmt.Errorf("%w: a client sent a reply frame", ErrMalformed)
		}
		if err != nil {
			// The framing holds, so a request whose id can be read is
			// answered (CodeBadRequest) and the connection goes on;
			// anything else ends it.
			id, ok := callrt.RequestID(body)
			if !ok {
				s.log(slog.LevelWarn, sc.peer.Name, "drop", "uds: dropping peer", "reason", err)
				return
			}
			s.log(slog.LevelWarn, sc.peer.Name, "malformed", "uds: answered a malformed request with code 3", "reason", err)
			sc.reply(&callrt.Reply{ID: id, Code: calls.CodeBadRequest, Msg: err.Error()}, !fr.complete())
			continue
		}
		sc.transit.Observe(req)
		if s.inl != nil && s.inl.Inline(req.Method) {
			// Quick method: run it here, and hold its reply back while
			// more requests are already read, to send them in one write.
			sc.reply(sc.run(req, true), !fr.complete())
			continue
		}
		// At MaxQueued unanswered requests, stop reading until one is
		// answered: the client's writes then wait, not the server's memory.
		select {
		case sc.queued <- struct{}{}:
		case <-sc.ctx.Done():
			return
		}
		sc.reqs.Add(1)
		go sc.handle(req)
	}
}

func (sc *serverConn) handle(req *callrt.Request) {
	defer sc.reqs.Done()
	defer func() { <-sc.queued }()
	select {
	case sc.sem <- struct{}{}:
		defer func() { <-sc.sem }()
	case <-sc.ctx.Done():
		sc.reply(&callrt.Reply{ID: req.ID, Code: calls.CodeShutdown, Msg: "server closing"}, true)
		return
	}
	sc.reply(sc.run(req, false), true)
}

// run runs req (callrt.Exec) and returns its reply.
func (sc *serverConn) run(req *callrt.Request, inline bool) *callrt.Reply {
	rep := &callrt.Reply{ID: req.ID}
	callrt.Exec(sc.ctx, sc.s.h, req, inline, sc.s.opts.Logger, rep)
	return rep
}

// reply queues r and, with flush, writes every queued reply in one write.
func (sc *serverConn) reply(r *callrt.Reply, flush bool) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	sc.out = callrt.AppendReplyLimited(sc.out, r, sc.s.opts.MaxReply)
	if flush && len(sc.out) > 0 {
		sc.write(sc.out)
		sc.out = callrt.Reuse(sc.out)
	}
}

// write writes b, the caller holding wmu. The first attempt does not
// wait (and costs no deadline); what the socket does not take at once may
// wait WriteTimeout for the client to read, and then the connection is
// dropped. A failed write means the peer is gone: serve() notices.
func (sc *serverConn) write(b []byte) {
	var n int
	var err error
	if rerr := sc.raw.Write(func(fd uintptr) bool {
		n, err = unix.Write(int(fd), b)
		return true
	}); rerr != nil {
		return // closed
	}
	if err == nil && n == len(b) {
		return
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		return
	}
	n = max(n, 0)
	timeout := sc.s.opts.WriteTimeout
	_ = sc.c.SetWriteDeadline(time.Now().Add(timeout))
	_, err = sc.c.Write(b[n:])
	_ = sc.c.SetWriteDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		sc.s.log(slog.LevelWarn, sc.peer.Name, "drop", "uds: dropping peer: it has not read its replies", "waited", timeout)
		sc.cancel()
		_ = sc.c.Close()
	}
}

// log writes a line about peer, at most one per peer and kind and a few
// per kind every 10 s (loglimit), with the socket's path, the peer and
// the count of lines held back.
func (s *Server) log(level slog.Level, peer, kind, msg string, args ...any) {
	if !s.opts.Logger.Enabled(context.Background(), level) {
		return
	}
	ok, held := s.logs.Allow(peer, kind)
	if !ok {
		return
	}
	args = append(args, "path", s.path, "peer", peer)
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	s.opts.Logger.Log(context.Background(), level, msg, args...)
}

// Close stops accepting, closes every connection, cancels running
// handlers' contexts and waits for the server's goroutines. The socket
// file is removed. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	err := s.ln.Close()
	// Connections first, then the handlers' contexts: a handler that
	// returns because its context ended must not get its "canceled" reply
	// out before the connection closes. Its caller sees the server gone.
	for _, c := range conns {
		_ = c.c.Close()
	}
	s.cancel()
	s.wg.Wait()
	return err
}

// Conns is the number of open connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
