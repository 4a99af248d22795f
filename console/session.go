package console

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

// sendQueue bounds the frames waiting for a slow tab; a tab that falls
// this far behind is disconnected, and its page reconnects and starts
// again from a snapshot.
const sendQueue = 64

// session is one tab's WebSocket.
type session struct {
	c      *Console
	conn   *websocket.Conn
	out    chan []byte
	cancel context.CancelFunc
}

func newSession(c *Console, conn *websocket.Conn) *session {
	return &session{c: c, conn: conn, out: make(chan []byte, sendQueue)}
}

// hello is a session's first message.
type hello struct {
	T        string                `json:"t"`
	Title    string                `json:"title"`
	Mode     string                `json:"mode"` // "server": the RPC service runs here; "client": an RPC gateway
	Lang     string                `json:"lang"`
	Interval int64                 `json:"interval_ms"`
	Enums    map[string][]enumName `json:"enums"`
	Snapshot frame                 `json:"snapshot"`
}

func (s *session) mode() string {
	if s.c.hub.service() != nil {
		return "server"
	}
	for _, name := range s.c.me.GatewayNames() {
		if gw, err := s.c.me.Gateway(name); err == nil {
			if _, ok := gw.(*rpcgateway.Gateway); ok {
				return "client"
			}
		}
	}
	return "engine"
}

// run serves the session until the tab goes away, a write fails or the
// console closes.
func (s *session) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	s.cancel = cancel
	defer func() { _ = s.conn.CloseNow() }()
	defer cancel()
	first, err := s.c.hub.attach(s, hello{Title: s.c.opts.Title, Mode: s.mode(), Lang: s.c.opts.Lang,
		Interval: s.c.opts.FrameInterval.Milliseconds(), Enums: enums()})
	if err != nil {
		s.c.log.Error("console: snapshot", "err", err)
		return
	}
	defer s.c.hub.detach(s)
	done := make(chan struct{})
	go func() { defer close(done); s.write(ctx, first) }()
	defer func() { <-done }()
	s.read(ctx)
}

// send queues b without blocking; a tab too slow to keep up is cut off.
func (s *session) send(b []byte) {
	select {
	case s.out <- b:
	default:
		s.c.log.Warn("console: a tab fell behind and is disconnected; it reconnects with a fresh snapshot")
		s.cancel()
	}
}

func (s *session) write(ctx context.Context, first []byte) {
	defer s.cancel()
	b := first
	for {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.conn.Write(wctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return // run closes the connection
		case b = <-s.out:
		}
	}
}

// request is what a tab asks for.
type request struct {
	ID   uint64          `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

type reply struct {
	T      string `json:"t"`
	ID     uint64 `json:"id"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Result any    `json:"result,omitempty"`
}

func (s *session) read(ctx context.Context) {
	defer s.cancel()
	for {
		typ, b, err := s.conn.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) && ctx.Err() == nil {
				s.c.log.Debug("console: tab connection ended", "err", err)
			}
			return
		}
		rep := reply{T: "reply"}
		var req request
		switch {
		case typ != websocket.MessageText:
			rep.Error = "requests are JSON text messages"
		case json.Unmarshal(b, &req) != nil:
			rep.Error = "malformed request: want {\"id\":N,\"op\":\"…\",\"args\":{…}}"
		default:
			rep.ID = req.ID
			res, err := s.c.do(req.Op, req.Args)
			if err != nil {
				rep.Error = err.Error()
			} else {
				rep.OK, rep.Result = true, res
			}
		}
		out, _ := json.Marshal(&rep)
		select {
		case s.out <- out:
		case <-ctx.Done():
			return
		}
	}
}
