// Package console is vnrpc's GUI mode: a browser console served by the
// process that runs a main engine. The server page drives the RPC service
// (start, stop, settings, connected clients, the service log) and the
// exchange gateway's connect form; the client page drives the RPC gateway's
// connection. Both show the trading tables (ticks, orders with cancel,
// trades, positions, accounts, logs) and a manual order panel.
//
// The page and its assets are embedded; live updates travel over one
// WebSocket per tab (github.com/coder/websocket, with its Origin check).
// The engine's events are coalesced on the server side and sent at a
// bounded frame rate, latest value per key, so a tab stays responsive at
// any tick rate.
//
// By default the console listens on 127.0.0.1 and answers only requests
// addressed to the loopback (no DNS rebinding). Listening on any other
// address requires an access token: one is generated at start and is part
// of URL().
//
// The WebSocket carries JSON. The console sends {"t":"hello"} first (mode,
// language, enum names in en and zh, and a snapshot of every table and the
// status), then {"t":"frame"} messages with the rows that changed (keyed by
// vt_symbol, vt_orderid, vt_tradeid, vt_positionid, vt_accountid; logs by
// seq) and the status when it changed. A tab sends {"id":N,"op":…,"args":…}
// with op one of service.start, service.stop, gateway.connect, subscribe,
// order.send, order.cancel, and gets {"t":"reply","id":N,"ok":…,"error":…}.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/vnrpc/vnrpc/engine"
)

//go:embed assets
var assets embed.FS

// DefaultAddr is where the console listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8014"

// Options configure a console.
type Options struct {
	// Addr is the listen address (default DefaultAddr; port 0 picks one).
	Addr string
	// Token is the access token. Empty: none on loopback, a generated one
	// on any other address. A token given here is always required.
	Token string
	// Title names the process in the page's title (default "vnrpc").
	Title string
	// FrameInterval bounds how often updates are sent to a tab
	// (default 100 ms: 10 frames a second).
	FrameInterval time.Duration
	// Lang is the page's initial language, "en" or "zh" (default "en");
	// the page can switch.
	Lang string
	// Settings prefill the connect forms of the gateways they name (the
	// gateway's DefaultSetting fills the rest).
	Settings map[string]engine.Setting
	// Logger receives the console's own logs (default slog.Default()).
	Logger *slog.Logger
}

// Console serves one main engine's console. Close stops it.
type Console struct {
	me    *engine.MainEngine
	opts  Options
	log   *slog.Logger
	ln    net.Listener
	srv   *http.Server
	hub   *hub
	token string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// Start listens and serves the console of me until Close.
func Start(me *engine.MainEngine, o Options) (*Console, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.FrameInterval <= 0 {
		o.FrameInterval = 100 * time.Millisecond
	}
	if o.Title == "" {
		o.Title = "vnrpc"
	}
	if o.Lang == "" {
		o.Lang = "en"
	}
	if _, err := engine.ParseLang(o.Lang); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("console: listen on %s: %w", o.Addr, err)
	}
	c := &Console{me: me, opts: o, log: o.Logger, ln: ln, token: o.Token}
	if c.token == "" && !loopback(ln.Addr()) {
		b := make([]byte, 16)
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		c.token = hex.EncodeToString(b)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.hub = newHub(me, o.FrameInterval, o.Settings, c.log)

	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	mux.Handle("GET /assets/", c.guard(http.StripPrefix("/assets/", files)))
	mux.Handle("GET /{$}", c.guard(http.HandlerFunc(c.index)))
	mux.Handle("GET /ws", c.guard(http.HandlerFunc(c.serveWS)))
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)}

	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("console: serve", "err", err)
		}
	}()
	go func() { defer c.wg.Done(); c.hub.run(c.ctx) }()
	if c.token != "" && !loopback(ln.Addr()) {
		c.log.Warn("console: listening beyond loopback; the URL carries an access token, keep it private", "addr", ln.Addr().String())
	}
	c.log.Info("console: open "+c.URL(), "addr", ln.Addr().String())
	return c, nil
}

// URL is the console's address, with the access token if one is required.
func (c *Console) URL() string {
	host := c.ln.Addr().String()
	if tcp, ok := c.ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	u := url.URL{Scheme: "http", Host: host, Path: "/"}
	if c.token != "" {
		u.RawQuery = url.Values{"token": {c.token}}.Encode()
	}
	return u.String()
}

// Addr is the address the console listens on.
func (c *Console) Addr() net.Addr { return c.ln.Addr() }

// Close stops serving, closes every tab's connection and waits for the
// console's goroutines. It is idempotent.
func (c *Console) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel() // ends the hub and every session (their connections close)
	err := c.srv.Close()
	c.wg.Wait()
	c.hub.close()
	return err
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost or a loopback IP, with or without a port.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.Trim(host, "[]")
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

const tokenCookie = "vnrpc_token"

// guard admits a request that carries the token (query or cookie) when one
// is required. A page request with a good token in its query sets the
// cookie, so that the page's assets and WebSocket need not repeat it.
func (c *Console) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		if c.token == "" && !loopbackHost(r.Host) {
			// Without a token only this machine may use the console: a
			// web page elsewhere that rebinds its own name to 127.0.0.1
			// must not reach it (its requests carry its own Host).
			http.Error(w, "vnrpc console: open it as http://127.0.0.1:PORT/ or http://localhost:PORT/ (host "+
				strconv.Quote(r.Host)+" refused)", http.StatusForbidden)
			return
		}
		if c.token != "" {
			got := r.URL.Query().Get("token")
			if got == "" {
				if ck, err := r.Cookie(tokenCookie); err == nil {
					got = ck.Value
				}
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(c.token)) != 1 {
				http.Error(w, "vnrpc console: this console needs its access token: open the URL it printed at start (…/?token=…)", http.StatusUnauthorized)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: c.token, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode})
		}
		h.ServeHTTP(w, r)
	})
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil { // embedded: cannot happen in a built binary
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; style-src 'self'; script-src 'self'")
	_, _ = w.Write(b)
}

// serveWS runs one tab's session: a snapshot, then frames of changes; the
// tab's requests (start, connect, send order …) are answered on the same
// socket.
func (c *Console) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil) // nil options: the Origin must match the Host
	if err != nil {
		c.log.Debug("console: websocket refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn.SetReadLimit(64 << 10)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = conn.Close(websocket.StatusGoingAway, "console closed")
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	s := newSession(c, conn)
	s.run(c.ctx)
}
