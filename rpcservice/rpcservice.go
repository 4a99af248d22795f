// Package rpcservice is the RPC service app (vn.py's RpcServiceApp): it
// exposes a MainEngine through an rpc.Server — the 17 functions vn.py
// registers, plus quotes, gateway names, exchanges and a status call — and
// publishes every engine event but the timer, encoded once for all
// clients, into the shared-memory ring and to LAN subscribers.
//
// Unlike vn.py's, the service can be stopped and started again in one
// process, an event that cannot be encoded is logged and skipped (it never
// stops the event engine), and its settings carry the transport and
// security options as well as the two addresses.
package rpcservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/lan"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// AppName is the app's name in the main engine (vn.py's APP_NAME).
const AppName = "RpcService"

// EventRpcLog is the service's own log event (vn.py's EVENT_RPC_LOG).
const EventRpcLog = wire.EventRpcLog

// SettingFile is the settings file's name in the trader directory.
const SettingFile = "rpc_service_setting.json"

// Setting is the service's configuration, loaded from and saved to
// SettingFile. The JSON names of the two addresses are vn.py's.
type Setting struct {
	// RepAddress serves calls to the LAN over ZeroMQ (vn.py's
	// rep_address); empty: local clients only. PubAddress publishes
	// events (pub_address).
	RepAddress string `json:"rep_address"`
	PubAddress string `json:"pub_address"`
	// SocketPath is the unix socket for local calls (default
	// rpc.DefaultSocketPath()).
	SocketPath string `json:"socket_path,omitempty"`
	// SegmentDir holds the event ring's segment (default /dev/shm).
	SegmentDir string `json:"segment_dir,omitempty"`
	// RingMB is the ring's size in MiB (default 64).
	RingMB int `json:"ring_mb,omitempty"`
	// ServerKeyFile and AuthorizedKeysFile turn CURVE on for the LAN
	// (see vnrpc keys); Insecure allows plaintext on a non-loopback
	// address.
	ServerKeyFile      string `json:"server_key_file,omitempty"`
	AuthorizedKeysFile string `json:"authorized_keys_file,omitempty"`
	Insecure           bool   `json:"insecure,omitempty"`
	// HeartbeatMs is the liveness interval (default 1000).
	HeartbeatMs int `json:"heartbeat_ms,omitempty"`
	// CallPollUs, if positive, makes the server read local calls by
	// polling this many microseconds before parking (uds.Options.Poll):
	// a call that arrives within the window skips a wake-up, for a core.
	CallPollUs int `json:"call_poll_us,omitempty"`
}

// DefaultSetting listens on loopback with vn.py's ports: tcp://*:2014 of
// vn.py would expose an unauthenticated service to the network, which
// vnrpc refuses without CURVE keys.
func DefaultSetting() Setting {
	return Setting{RepAddress: "tcp://127.0.0.1:2014", PubAddress: "tcp://127.0.0.1:4102"}
}

// TraderDir is vn.py's trader directory: ./.vntrader if it exists, else
// $HOME/.vntrader.
func TraderDir() string {
	if st, err := os.Stat(".vntrader"); err == nil && st.IsDir() {
		if abs, err := filepath.Abs(".vntrader"); err == nil {
			return abs
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".vntrader"
	}
	return filepath.Join(home, ".vntrader")
}

// Options configure the app.
type Options struct {
	// DataDir holds the settings file (default TraderDir()).
	DataDir string
	// Setting, if non-nil, is used instead of the file's (and saved to it
	// on a successful start, unless KeepFile).
	Setting *Setting
	// KeepFile: Start leaves the settings file as it is, so that settings
	// given for one run (a command line's flags) do not stick.
	// StartWith, which takes new settings (a settings form), still saves.
	KeepFile bool
	// Logger receives the service's logs besides eRpcLog events
	// (default: the main engine's).
	Logger *slog.Logger
	// MaxHistoryQueries bounds the query_history calls that run at once
	// (default DefaultMaxHistoryQueries, 1): each may hold a hundred
	// thousand bars and their encoding, some 70 MB. More wait their turn
	// within their deadline; one whose deadline passes while it waits is
	// answered with CodeDeadlineExceeded and does not run.
	MaxHistoryQueries int
}

// DefaultMaxHistoryQueries is Options.MaxHistoryQueries unless set.
const DefaultMaxHistoryQueries = 1

// Engine is the service app. Its methods are safe for concurrent use.
type Engine struct {
	me   *engine.MainEngine
	ev   *engine.EventEngine
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // guards the fields below; Start and Stop hold it
	setting Setting
	srv     atomic.Pointer[rpc.Server] // set under mu (and pubMu when cleared)
	unreg   func()
	closed  bool

	pubMu  sync.Mutex // the event engine's goroutine only, but Stop races with it
	buf    []byte
	failed map[string]bool // event types already logged as unencodable

	history chan struct{} // a slot per query_history running (MaxHistoryQueries)
}

// Factory returns the app's factory for MainEngine.AddApp.
func Factory(o Options) engine.AppFactory {
	return func(m *engine.MainEngine) (engine.App, error) { return New(m, o) }
}

// New builds the service over m, loading its settings; it is not started.
func New(m *engine.MainEngine, o Options) (*Engine, error) {
	if o.DataDir == "" {
		o.DataDir = TraderDir()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxHistoryQueries <= 0 {
		o.MaxHistoryQueries = DefaultMaxHistoryQueries
	}
	s := &Engine{me: m, ev: m.EventEngine(), opts: o, log: o.Logger, failed: map[string]bool{},
		history: make(chan struct{}, o.MaxHistoryQueries)}
	if o.Setting != nil {
		s.setting = *o.Setting
	} else {
		st, err := LoadSetting(o.DataDir)
		if err != nil {
			return nil, err
		}
		s.setting = st
	}
	return s, nil
}

// LoadSetting reads dir's settings file; a missing file is created holding
// the defaults, as vn.py creates its file.
func LoadSetting(dir string) (Setting, error) {
	st := DefaultSetting()
	path := filepath.Join(dir, SettingFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, SaveSetting(dir, st)
	}
	if err != nil {
		return st, fmt.Errorf("rpcservice: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("rpcservice: %s: %w", path, err)
	}
	return st, nil
}

// SaveSetting writes st to dir's settings file (0600; the directory is made).
func SaveSetting(dir string, st Setting) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("rpcservice: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "    ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, SettingFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("rpcservice: %w", err)
	}
	return os.Rename(tmp, path)
}

// Name is AppName.
func (s *Engine) Name() string { return AppName }

// Setting returns the current settings.
func (s *Engine) Setting() Setting {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setting
}

// Server is the running rpc server, or nil.
func (s *Engine) Server() *rpc.Server { return s.srv.Load() }

// Running reports whether the service is serving.
func (s *Engine) Running() bool { return s.Server() != nil }

// Start serves with the current settings (saving them unless
// Options.KeepFile).
func (s *Engine) Start() error { return s.serve(s.Setting(), !s.opts.KeepFile) }

// StartWith serves with st; on success st is saved as the settings. It
// fails if the service is running.
func (s *Engine) StartWith(st Setting) error { return s.serve(st, true) }

// serve starts the service and lets the event engine's dispatcher take in
// every event put before the service's tap. Queries answer from the OMS,
// which the dispatcher fills, so until then they wait: a gateway's
// contracts pushed at connect, before the service started, were never
// published, and a client must find them all in its first snapshot. Start
// must therefore not be called from an event handler (Sync would wait for
// it; queries would wait up to 10 s).
func (s *Engine) serve(st Setting, save bool) error {
	ready := make(chan struct{})
	defer close(ready)
	if err := s.start(st, save, ready); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.ev.Sync(ctx); err != nil {
		s.log.Warn("rpcservice: serving before the event engine took in the earlier events", "err", err)
	}
	return nil
}

func (s *Engine) start(st Setting, save bool, ready <-chan struct{}) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return engine.ErrClosed
	}
	if s.srv.Load() != nil {
		s.writeLogLevel(engine.LogWarning, "RPC service is already running")
		return errors.New("rpcservice: already running")
	}
	o, err := serverOptions(st, s.log)
	if err != nil {
		s.writeLogLevel(engine.LogError, "RPC service failed to start: "+err.Error())
		return err
	}
	srv := rpc.NewServer(o)
	s.register(srv, ready)
	if err := srv.Start(); err != nil {
		s.writeLogLevel(engine.LogError, "RPC service failed to start: "+err.Error())
		return err
	}
	s.srv.Store(srv)
	s.setting = st
	// A tap: events are published on the producing gateway's goroutine,
	// without waiting for the event engine's dispatcher to wake up.
	s.unreg = s.ev.RegisterTap("", s.publish)
	if save {
		if err := SaveSetting(s.opts.DataDir, st); err != nil {
			s.log.Warn("rpcservice: settings not saved", "err", err)
		}
	}
	sock, calls, events := srv.Addrs()
	s.writeLog(fmt.Sprintf("RPC service started (socket %s, calls %s, events %s)", sock, orNone(calls), orNone(events)))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func serverOptions(st Setting, log *slog.Logger) (rpc.ServerOptions, error) {
	o := rpc.ServerOptions{SocketPath: st.SocketPath, SegmentDir: st.SegmentDir, CallAddr: st.RepAddress,
		EventAddr: st.PubAddress, Insecure: st.Insecure, Logger: log,
		Heartbeat: time.Duration(st.HeartbeatMs) * time.Millisecond, SegmentPrefix: "vnrpc-rpcservice",
		Poll: time.Duration(st.CallPollUs) * time.Microsecond}
	if st.RingMB > 0 {
		o.RingCapacity = st.RingMB << 20
	}
	if (st.RepAddress == "") != (st.PubAddress == "") {
		return o, errors.New("rpcservice: rep_address and pub_address go together: give both or neither")
	}
	curve, err := lan.LoadServerCurve(st.ServerKeyFile, st.AuthorizedKeysFile)
	if err != nil {
		return o, fmt.Errorf("rpcservice: server_key_file, authorized_keys_file: %w", err)
	}
	o.Curve = curve
	return o, nil
}

// Stop stops serving; the service can be started again.
func (s *Engine) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.srv.Load()
	if srv == nil {
		s.writeLogLevel(engine.LogWarning, "RPC service is not running")
		return errors.New("rpcservice: not running")
	}
	s.unreg()
	s.pubMu.Lock() // wait for a publish in progress
	s.srv.Store(nil)
	s.pubMu.Unlock()
	err := srv.Stop()
	s.writeLog("RPC service stopped")
	return err
}

// Close stops the service if it runs (MainEngine.Close calls it). It is
// idempotent.
func (s *Engine) Close() error {
	if s.Running() {
		_ = s.Stop()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// writeLog puts an eRpcLog event (vn.py's write_log) and logs it.
func (s *Engine) writeLog(msg string) { s.writeLogLevel(engine.LogInfo, msg) }

// writeLogLevel logs at a Python logging level (engine.LogInfo ...).
func (s *Engine) writeLogLevel(level int, msg string) {
	lv := slog.LevelInfo
	switch {
	case level >= engine.LogError:
		lv = slog.LevelError
	case level >= engine.LogWarning:
		lv = slog.LevelWarn
	}
	s.log.Log(context.Background(), lv, "rpcservice: "+msg)
	s.ev.Put(engine.Event{Type: EventRpcLog, Data: &engine.Log{GatewayName: AppName, Msg: msg, Level: level,
		Time: time.Now()}})
}

// publish is a tap on every event (it runs inside EventEngine.Put): it
// encodes each publishable event once and writes it to the ring and the
// LAN; neither waits for readers. An event that cannot
// be encoded is logged (once per event type) and skipped.
func (s *Engine) publish(ev engine.Event) {
	if !wire.Publishable(ev.Type) {
		return
	}
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	srv := s.srv.Load()
	if srv == nil {
		return
	}
	typ, b, err := wire.AppendEvent(s.buf[:0], ev)
	if err != nil {
		if !s.failed[ev.Type] {
			s.failed[ev.Type] = true
			s.log.Error("rpcservice: an event could not be encoded and is not published (logged once per type)",
				"type", ev.Type, "data", fmt.Sprintf("%T", ev.Data), "err", err)
		}
		return
	}
	s.buf = b
	if _, err := srv.Publish(typ, b); err != nil && !errors.Is(err, rpc.ErrNotRunning) {
		s.log.Warn("rpcservice: publish", "type", ev.Type, "err", err)
	}
}
