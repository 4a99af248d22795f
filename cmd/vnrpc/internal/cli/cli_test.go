package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/lan"
	"github.com/vnrpc/vnrpc/rpcservice"
)

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "server") {
		t.Errorf("vnrpc --help: %d %q", code, out.String())
	}
	out.Reset()
	errb.Reset()
	if code := Main(context.Background(), []string{"server", "--help"}, &out, &errb); code != 0 {
		t.Errorf("vnrpc server --help exit %d", code)
	}
	for _, f := range []string{"-config", "-user", "-password", "-seed", "-tick-rate", "-capital", "-contracts",
		"-symbols", "-log-level", "-summary-interval", "-demo"} {
		if !strings.Contains(errb.String(), f) {
			t.Errorf("server help does not explain %s", f)
		}
	}
	if code := Main(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("unknown command exit %d", code)
	}
}

func TestBadFlagsNameTheFieldAndAcceptedValues(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--tick-rate", "-5"}, "tick-rate -5: accepted values are 0"},
		{[]string{"--log-level", "loud"}, "accepted values are debug, info, warn, error"},
		{[]string{"--symbols", "rb2601"}, `symbols: "rb2601" is not symbol.EXCHANGE`},
		{[]string{"--symbols", "rb2601.MOON"}, "unknown Exchange"},
		{[]string{"--capital", "0"}, "capital 0: must be positive"},
		{[]string{"--call-poll-us", "-1"}, "call-poll-us -1: must be 0 to 1000000"},
		{[]string{"--summary-interval", "1ns"}, "summary-interval"},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{[]string{"--config", "x.yaml"}, "want a .json or .toml file"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"server"}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

func TestConfigFileAndFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	j := filepath.Join(dir, "s.json")
	if err := os.WriteFile(j, []byte(`{"sim": {"seed": 9, "tick_rate": 50}, "symbols": ["cu2601.SHFE"], "summary_interval": "250ms"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseServer([]string{"--config", j, "--tick-rate", "7"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sim.Seed != 9 || c.Sim.TickRate != 7 || c.SummaryInterval.Duration != 250*time.Millisecond ||
		len(c.Symbols) != 1 || c.Symbols[0] != "cu2601.SHFE" || c.Sim.UserID != "demo" {
		t.Errorf("merged config %+v", c)
	}
	tm := filepath.Join(dir, "s.toml")
	if err := os.WriteFile(tm, []byte("log_level = \"debug\"\nsymbols = [\"m2601.DCE\"]\n[sim]\nseed = 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = parseServer([]string{"--config", tm}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" || c.Sim.Seed != 3 || c.Symbols[0] != "m2601.DCE" || c.Sim.TickRate != 2 {
		t.Errorf("toml config %+v", c)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[sim]\nspeed = 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = parseServer([]string{"--config", bad}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "sim.speed") {
		t.Errorf("unknown toml key: %v", err)
	}
}

// syncBuffer is a log sink that signals every write.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.written <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRunServerShowsTicksAndStops(t *testing.T) {
	logs := syncBuffer{written: make(chan struct{}, 1)}
	c := DefaultServerConfig()
	c.Sim.TickRate = 200
	c.SummaryInterval.Duration = 50 * time.Millisecond
	dir := t.TempDir()
	c.RPC = RPCConfig{Enabled: true, DataDir: dir, SocketPath: filepath.Join(dir, "s", "rpc.sock"), NoLAN: true}
	c.UI = UIConfig{Enabled: true, Addr: "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunServer(ctx, c, slog.New(slog.NewTextHandler(&logs, nil))) }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(logs.String(), `last="rb2601.SHFE`) {
		select {
		case <-logs.written:
		case <-deadline:
			t.Fatalf("no summary with live ticks in 10 s:\n%s", logs.String())
		}
	}
	// --ui: the console's URL is logged and serves the page.
	m := regexp.MustCompile(`console: open (http://[^" ]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no console URL logged:\n%s", logs.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", m[1], resp.Status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop within 10 s of cancel")
	}
	for _, want := range []string{"connected to the simulated exchange", "RPC service started", "msg=summary", "ticks/s=",
		"RPC service stopped", "server stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestRunServerUnknownSymbol(t *testing.T) {
	c := DefaultServerConfig()
	c.Symbols = []string{"zz9999.SHFE"}
	err := RunServer(context.Background(), c, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if err == nil || !strings.Contains(err.Error(), "listed: rb2601.SHFE") {
		t.Errorf("unknown symbol: %v", err)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"keys", "--dir", dir, "--name", "alice"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	k, err := lan.ReadKeys(filepath.Join(dir, "alice.key"))
	if err != nil || k.Secret == "" {
		t.Fatalf("alice.key: %v", err)
	}
	pub, err := lan.ReadKeys(filepath.Join(dir, "alice.pub"))
	if err != nil || pub.Public != k.Public || pub.Secret != "" || !strings.Contains(out.String(), k.Public) {
		t.Fatalf("alice.pub: %+v %v", pub, err)
	}
	if code := Main(context.Background(), []string{"keys", "--dir", dir, "--name", "alice"}, &out, &errb); code != 1 {
		t.Errorf("overwriting keys: exit %d", code)
	}
	if code := Main(context.Background(), []string{"keys", "--name", "../x"}, &out, &errb); code != 2 {
		t.Errorf("bad name: exit %d", code)
	}
}

// vnrpc client --ui without an address leaves connecting to the console's
// dialog; with one, it connects at once as without --ui.
func TestClientUIConnectsFromTheDialog(t *testing.T) {
	c, err := parseClient([]string{"--ui", "--ui-addr", "127.0.0.1:0"}, io.Discard)
	if err != nil || !c.NoConnect || !c.UI.Enabled {
		t.Fatalf("--ui alone: %+v %v", c, err)
	}
	c, err = parseClient([]string{"--ui", "/tmp/x.sock"}, io.Discard)
	if err != nil || c.NoConnect || c.Address != "/tmp/x.sock" {
		t.Fatalf("--ui ADDRESS: %+v %v", c, err)
	}
	c, _ = parseClient([]string{"--ui", "--ui-addr", "127.0.0.1:0", "--summary-interval", "20ms"}, io.Discard)
	logs := syncBuffer{written: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunClient(ctx, c, slog.New(slog.NewTextHandler(&logs, nil))) }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(logs.String(), "transport=none") {
		select {
		case <-logs.written:
		case <-deadline:
			t.Fatalf("no summary in 10 s:\n%s", logs.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "console: open http://127.0.0.1:") || strings.Contains(logs.String(), "connecting to") {
		t.Fatalf("want the console and no connection:\n%s", logs.String())
	}
}

// --call-poll-us reaches the service's setting (rpc_service_setting.json's
// call_poll_us), overriding the file's.
func TestServiceCallPolling(t *testing.T) {
	dir := t.TempDir()
	me := engine.NewMainEngine(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer me.Close()
	c := RPCConfig{Enabled: true, DataDir: dir, SocketPath: filepath.Join(dir, "s", "rpc.sock"), NoLAN: true, CallPollUs: 250}
	if err := startService(me, c, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	app, _ := me.App(rpcservice.AppName)
	if got := app.(*rpcservice.Engine).Setting().CallPollUs; got != 250 {
		t.Fatalf("call_poll_us %d, want 250", got)
	}
}

// TestFlagsDoNotStickInTheSettingsFile: a run with --no-lan and --socket
// leaves rpc_service_setting.json as it was, so the next run without
// those flags serves the LAN again.
func TestFlagsDoNotStickInTheSettingsFile(t *testing.T) {
	dir := t.TempDir()
	want, err := rpcservice.LoadSetting(dir) // creates the file with the defaults
	if err != nil {
		t.Fatal(err)
	}
	me := engine.NewMainEngine(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer me.Close()
	c := RPCConfig{Enabled: true, DataDir: dir, SocketPath: filepath.Join(dir, "s", "rpc.sock"), NoLAN: true, CallPollUs: 250}
	if err := startService(me, c, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	got, err := rpcservice.LoadSetting(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.RepAddress != want.RepAddress || got.SocketPath != want.SocketPath || got.CallPollUs != want.CallPollUs {
		t.Fatalf("settings file after a run with flags: rep %q socket %q poll %d; want %q %q %d",
			got.RepAddress, got.SocketPath, got.CallPollUs, want.RepAddress, want.SocketPath, want.CallPollUs)
	}
	if want.RepAddress == "" {
		t.Fatal("the default settings have no LAN address: the test proves nothing")
	}
}

// --gateway rpc serves another vnrpc server's engine onward: a server on
// the sim, and a second server whose exchange is the first, through the
// RPC gateway. The second one's summary shows the first one's ticks.
func TestServerChainedThroughTheRPCGateway(t *testing.T) {
	run := func(c ServerConfig, logs *syncBuffer) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- RunServer(ctx, c, slog.New(slog.NewTextHandler(logs, nil))) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v\n%s", err, logs.String())
			}
		}
	}
	upDir, downDir := t.TempDir(), t.TempDir()
	up := DefaultServerConfig()
	up.Sim.TickRate = 100
	up.RPC = RPCConfig{Enabled: true, DataDir: upDir, SocketPath: filepath.Join(upDir, "s", "rpc.sock"), NoLAN: true}
	upLogs := &syncBuffer{written: make(chan struct{}, 1)}
	defer run(up, upLogs)()
	waitLog(t, upLogs, "RPC service started")

	down := DefaultServerConfig()
	down.Gateway = "rpc"
	down.Setting = map[string]any{"address": up.RPC.SocketPath}
	down.Symbols = []string{"rb2601.SHFE"}
	down.SummaryInterval.Duration = 50 * time.Millisecond
	down.RPC = RPCConfig{Enabled: true, DataDir: downDir, SocketPath: filepath.Join(downDir, "s", "rpc.sock"), NoLAN: true}
	downLogs := &syncBuffer{written: make(chan struct{}, 1)}
	defer run(down, downLogs)()
	waitLog(t, downLogs, `last="rb2601.SHFE`)
	if !strings.Contains(downLogs.String(), "gateway=RPC") {
		t.Errorf("the second server does not run the RPC gateway:\n%s", downLogs.String())
	}
}

// waitLog waits up to 20 s for logs to hold s.
func waitLog(t *testing.T, logs *syncBuffer, s string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(logs.String(), s) {
		select {
		case <-logs.written:
		case <-deadline:
			t.Fatalf("no %q in 20 s:\n%s", s, logs.String())
		}
	}
}
