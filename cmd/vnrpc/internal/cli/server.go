package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vnrpc/vnrpc/console"
	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/rpcservice"
)

// ServerConfig is the configuration of "vnrpc server". A config file (JSON
// or TOML, by extension) sets it; flags given on the command line win.
type ServerConfig struct {
	// Gateway names the exchange gateway (gateway.Names(): sim, rpc).
	Gateway string `json:"gateway" toml:"gateway"`
	// Setting overrides the gateway's connect settings, key by key (for
	// the sim, the [sim] section and its flags set them too).
	Setting         map[string]any `json:"setting" toml:"setting"`
	Sim             SimConfig      `json:"sim" toml:"sim"`
	Symbols         []string       `json:"symbols" toml:"symbols"`
	LogLevel        string         `json:"log_level" toml:"log_level"`
	SummaryInterval Duration       `json:"summary_interval" toml:"summary_interval"`
	Demo            bool           `json:"demo" toml:"demo"`
	RPC             RPCConfig      `json:"rpc" toml:"rpc"`
	UI              UIConfig       `json:"ui" toml:"ui"`
}

// UIConfig configures the browser console (GUI mode).
type UIConfig struct {
	Enabled bool   `json:"enabled" toml:"enabled"`
	Addr    string `json:"addr" toml:"addr"`
	Token   string `json:"token" toml:"token"`
}

func uiFlags(fs *flag.FlagSet, c *UIConfig) {
	fs.BoolVar(&c.Enabled, "ui", c.Enabled, "serve the browser console (GUI mode); its URL is logged at start")
	fs.StringVar(&c.Addr, "ui-addr", c.Addr, "console listen address (any address but loopback needs the access token)")
	fs.StringVar(&c.Token, "ui-token", c.Token, "console access token (default: generated when ui-addr is not loopback)")
}

// startConsole serves the console of me if the config asks for it.
func startConsole(me *engine.MainEngine, c UIConfig, title string, settings map[string]engine.Setting, log *slog.Logger) (*console.Console, error) {
	if !c.Enabled {
		return nil, nil
	}
	con, err := console.Start(me, console.Options{Addr: c.Addr, Token: c.Token, Title: title, Settings: settings, Logger: log})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return con, nil
}

// RPCConfig configures the RPC service (rpcservice). Addresses and
// keys given here win over the service's settings file.
type RPCConfig struct {
	Enabled            bool   `json:"enabled" toml:"enabled"`
	DataDir            string `json:"data_dir" toml:"data_dir"`
	RepAddress         string `json:"rep_address" toml:"rep_address"`
	PubAddress         string `json:"pub_address" toml:"pub_address"`
	SocketPath         string `json:"socket_path" toml:"socket_path"`
	ServerKeyFile      string `json:"server_key_file" toml:"server_key_file"`
	AuthorizedKeysFile string `json:"authorized_keys_file" toml:"authorized_keys_file"`
	Insecure           bool   `json:"insecure" toml:"insecure"`
	NoLAN              bool   `json:"no_lan" toml:"no_lan"`
	CallPollUs         int    `json:"call_poll_us" toml:"call_poll_us"`
}

// SimConfig holds the simulated exchange's connect settings.
type SimConfig struct {
	UserID        string  `json:"user_id" toml:"user_id"`
	Password      string  `json:"password" toml:"password"`
	Seed          int64   `json:"seed" toml:"seed"`
	TickRate      float64 `json:"tick_rate" toml:"tick_rate"`
	Capital       float64 `json:"capital" toml:"capital"`
	ContractsFile string  `json:"contracts_file" toml:"contracts_file"`
}

// Duration reads "1s", "500ms" … from config files.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 1s or 500ms", b)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultServerConfig is what "vnrpc server" runs with no flags.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Gateway:         "sim",
		Sim:             SimConfig{UserID: "demo", Password: "demo", Seed: 1, TickRate: 2, Capital: 1_000_000},
		Symbols:         []string{"rb2601.SHFE", "IF2512.CFFEX", "600519.SSE"},
		LogLevel:        "info",
		SummaryInterval: Duration{time.Second},
		RPC:             RPCConfig{Enabled: true},
		UI:              UIConfig{Addr: console.DefaultAddr},
	}
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "error": slog.LevelError}

// Validate checks every field and names the bad one with what it accepts.
func (c *ServerConfig) Validate() error {
	if _, err := gateway.Lookup(c.Gateway); err != nil {
		return usageErr("gateway: %v", err)
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		return usageErr("log-level %q: accepted values are debug, info, warn, error", c.LogLevel)
	}
	if c.SummaryInterval.Duration < 10*time.Millisecond {
		return usageErr("summary-interval %v: must be at least 10ms", c.SummaryInterval.Duration)
	}
	if c.Sim.TickRate < 0 || c.Sim.TickRate > sim.MaxTickRate {
		return usageErr("tick-rate %g: accepted values are 0 (no live ticks) to %d ticks/s per symbol",
			c.Sim.TickRate, sim.MaxTickRate)
	}
	if c.Sim.Seed < 0 {
		return usageErr("seed %d: must be 0 or more", c.Sim.Seed)
	}
	if c.RPC.CallPollUs < 0 || c.RPC.CallPollUs > 1_000_000 {
		return usageErr("call-poll-us %d: must be 0 to 1000000", c.RPC.CallPollUs)
	}
	if !(c.Sim.Capital > 0) {
		return usageErr("capital %g: must be positive", c.Sim.Capital)
	}
	for _, s := range c.Symbols {
		if _, _, err := engine.ParseVtSymbol(s); err != nil {
			return usageErr("symbols: %q is not symbol.EXCHANGE (e.g. rb2601.SHFE): %v", s, err)
		}
	}
	if c.Demo && len(c.Symbols) == 0 {
		return usageErr("demo: needs at least one symbol to trade")
	}
	return nil
}

// startService adds the RPC service to me and starts it: the settings file
// in the data directory, overridden for this run (not saved) by what the
// config gives.
func startService(me *engine.MainEngine, c RPCConfig, log *slog.Logger) error {
	dir := c.DataDir
	if dir == "" {
		dir = rpcservice.TraderDir()
	}
	st, err := rpcservice.LoadSetting(dir)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{{&st.RepAddress, c.RepAddress}, {&st.PubAddress, c.PubAddress},
		{&st.SocketPath, c.SocketPath}, {&st.ServerKeyFile, c.ServerKeyFile}, {&st.AuthorizedKeysFile, c.AuthorizedKeysFile}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if c.Insecure {
		st.Insecure = true
	}
	if c.NoLAN {
		st.RepAddress, st.PubAddress = "", ""
	}
	if c.CallPollUs > 0 {
		st.CallPollUs = c.CallPollUs
	}
	app, err := me.AddApp(rpcservice.Factory(rpcservice.Options{DataDir: dir, Setting: &st, KeepFile: true, Logger: log}))
	if err != nil {
		return err
	}
	return app.(*rpcservice.Engine).Start()
}

// setting is the gateway's connect settings: its defaults (for the sim,
// the [sim] section), then Setting's keys.
func (c *ServerConfig) setting(d gateway.Driver) engine.Setting {
	st := d.Setting()
	if d.Name == "sim" {
		st = engine.Setting{"user_id": c.Sim.UserID, "password": c.Sim.Password, "seed": float64(c.Sim.Seed),
			"tick_rate": c.Sim.TickRate, "capital": c.Sim.Capital, "contracts_file": c.Sim.ContractsFile}
	}
	for k, v := range c.Setting {
		st[k] = v
	}
	return st
}

// settingFlag is --setting KEY=VALUE, repeated: a number or true/false
// is taken as one, anything else as a string.
type settingFlag struct{ m *map[string]any }

func (f settingFlag) String() string { return "" }

func (f settingFlag) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", kv)
	}
	if *f.m == nil {
		*f.m = map[string]any{}
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		(*f.m)[k] = n
	} else if b, err := strconv.ParseBool(v); err == nil {
		(*f.m)[k] = b
	} else {
		(*f.m)[k] = v
	}
	return nil
}

// LoadConfigFile fills c from a JSON or TOML file (chosen by extension).
// Unknown keys are an error naming them.
func LoadConfigFile(path string, c *ServerConfig) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".json" && ext != ".toml" {
		return usageErr("config %s: want a .json or .toml file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return usageErr("config: %v", err)
	}
	switch ext {
	case ".json":
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.DisallowUnknownFields()
		if err := d.Decode(c); err != nil {
			return usageErr("config %s: %v", path, err)
		}
	case ".toml":
		md, err := toml.Decode(string(b), c)
		if err != nil {
			return usageErr("config %s: %v", path, err)
		}
		if u := md.Undecoded(); len(u) > 0 {
			return usageErr("config %s: unknown keys %v", path, u)
		}
	}
	return nil
}

func serverFlags(c *ServerConfig, stderr io.Writer) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", "", "config file, .json or .toml (flags given here override it)")
	fs.StringVar(&c.Gateway, "gateway", c.Gateway, "the exchange gateway: "+gatewayList())
	fs.Var(settingFlag{&c.Setting}, "setting", "a gateway connect setting KEY=VALUE, repeated (e.g. --gateway rpc --setting address=tcp://HOST:2014)")
	fs.StringVar(&c.Sim.UserID, "user", c.Sim.UserID, "sim exchange user id")
	fs.StringVar(&c.Sim.Password, "password", c.Sim.Password, "sim exchange password")
	fs.Int64Var(&c.Sim.Seed, "seed", c.Sim.Seed, "seed of the simulated market (same seed, same calls: same events)")
	fs.Float64Var(&c.Sim.TickRate, "tick-rate", c.Sim.TickRate,
		fmt.Sprintf("ticks per second per subscribed symbol, 0 to %d", sim.MaxTickRate))
	fs.Float64Var(&c.Sim.Capital, "capital", c.Sim.Capital, "starting balance of the sim account")
	fs.StringVar(&c.Sim.ContractsFile, "contracts", c.Sim.ContractsFile, "JSON file of contracts replacing the default set")
	syms := fs.String("symbols", strings.Join(c.Symbols, ","), "comma-separated vt_symbols to subscribe")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.DurationVar(&c.SummaryInterval.Duration, "summary-interval", c.SummaryInterval.Duration, "how often to log the one-line summary")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "trade a sample order flow (1 lot in and out every 2s on the first symbol)")
	fs.BoolVar(&c.RPC.Enabled, "rpc", c.RPC.Enabled, "serve the engine with the RPC service (--rpc=false: no service)")
	fs.StringVar(&c.RPC.DataDir, "data-dir", c.RPC.DataDir, "trader directory holding rpc_service_setting.json (default ./.vntrader if it exists, else ~/.vntrader)")
	fs.StringVar(&c.RPC.RepAddress, "rep", c.RPC.RepAddress, "LAN call address (default from the settings file, else tcp://127.0.0.1:2014)")
	fs.StringVar(&c.RPC.PubAddress, "pub", c.RPC.PubAddress, "LAN event address (default from the settings file, else tcp://127.0.0.1:4102)")
	fs.BoolVar(&c.RPC.NoLAN, "no-lan", c.RPC.NoLAN, "serve local clients only (no ZeroMQ ports)")
	fs.IntVar(&c.RPC.CallPollUs, "call-poll-us", c.RPC.CallPollUs,
		"poll for local calls this many µs before parking (a call in the window skips a wake-up; takes a core; default from the settings file, else 0)")
	fs.StringVar(&c.RPC.SocketPath, "socket", c.RPC.SocketPath, "unix socket for local calls (default $XDG_RUNTIME_DIR/vnrpc/rpc.sock or /tmp/vnrpc-UID/rpc.sock)")
	fs.StringVar(&c.RPC.ServerKeyFile, "server-key", c.RPC.ServerKeyFile, "CURVE: the server's key file (vnrpc keys)")
	fs.StringVar(&c.RPC.AuthorizedKeysFile, "authorized-keys", c.RPC.AuthorizedKeysFile, "CURVE: file of the client public keys admitted")
	uiFlags(fs, &c.UI)
	fs.BoolVar(&c.RPC.Insecure, "insecure", c.RPC.Insecure, "allow plaintext calls on a non-loopback address (logs a warning)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: vnrpc server [flags]

Runs a main engine with an exchange gateway (--gateway, the simulated
exchange by default), subscribes the symbols and serves the engine with the
RPC service: local clients through shared memory and a unix socket, LAN
clients over ZeroMQ TCP. Logs every gateway and service log and a one-line
summary, and stops cleanly on SIGINT or SIGTERM.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs, cfg, syms
}

// parseServer builds the config: defaults, then the config file, then the
// flags that were given.
func parseServer(args []string, stderr io.Writer) (ServerConfig, error) {
	c := DefaultServerConfig()
	fs, cfgPath, syms := serverFlags(&c, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return c, usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *cfgPath != "" {
		// Defaults, then the file; parsing again over the file's values
		// sets only the flags given on the command line.
		c = DefaultServerConfig()
		if err := LoadConfigFile(*cfgPath, &c); err != nil {
			return c, err
		}
		fs, _, syms = serverFlags(&c, io.Discard)
		_ = fs.Parse(args) // parsed without error above
	}
	c.Symbols = splitList(*syms)
	return c, c.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func serverCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServer(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevels[c.LogLevel]}))
	return RunServer(ctx, c, log)
}

// RunServer runs the engine until ctx is done, then closes it.
func RunServer(ctx context.Context, c ServerConfig, log *slog.Logger) error {
	if err := c.Validate(); err != nil {
		return err
	}
	me := engine.NewMainEngine(nil, log)
	var subs *subscriber
	defer func() {
		if err := me.Close(); err != nil { // ends subscriptions in flight
			log.Error("close", "err", err)
		}
		subs.Close()
		log.Info("server stopped")
	}()
	ev := me.EventEngine()
	logEvents(ev, log, engine.EventLog)
	var ticks atomic.Uint64
	ev.RegisterTap(engine.EventTick, func(engine.Event) { ticks.Add(1) }) // a tap: no dispatch per tick

	drv, err := gateway.Lookup(c.Gateway)
	if err != nil {
		return usageErr("gateway: %v", err)
	}
	gw, err := me.AddGateway(drv.Factory(gateway.Options{Logger: log}), "")
	if err != nil {
		return err
	}
	subs = subscribeWhenListed(me, gw.Name(), c.Symbols, log)
	setting := c.setting(drv)
	if err := me.Connect(setting, gw.Name()); err != nil {
		return err
	}
	syncCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	missing, listed := subs.unlisted(syncCtx)
	cancel()
	if len(missing) > 0 {
		return usageErr("symbols: %s not listed by gateway %s (listed: %s)", strings.Join(missing, ", "), gw.Name(), listed)
	}
	if c.RPC.Enabled {
		if err := startService(me, c.RPC, log); err != nil {
			return err
		}
	}
	con, err := startConsole(me, c.UI, "vnrpc server", map[string]engine.Setting{gw.Name(): setting}, log)
	if err != nil {
		return err
	}
	if con != nil {
		defer con.Close()
	}
	log.Info("server running", "gateway", gw.Name(), "symbols", strings.Join(c.Symbols, ","))

	run(ctx, me, gw.Name(), c.Demo, c.Symbols, c.SummaryInterval.Duration, &ticks, log, func(rate float64) {
		summary(log, me, rate, c.Symbols)
	})
	return nil
}

// run runs the demo order flow through gw if asked, and calls report
// with the tick rate every interval, until ctx is done; it returns once
// the demo has stopped.
func run(ctx context.Context, me *engine.MainEngine, gw string, demo bool, symbols []string, interval time.Duration,
	ticks *atomic.Uint64, log *slog.Logger, report func(rate float64)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if demo {
		wg.Add(1)
		go func() { defer wg.Done(); demoFlow(ctx, me, gw, symbols[0], log) }()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	last, lastAt := uint64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := ticks.Load()
			report(float64(n-last) / now.Sub(lastAt).Seconds())
			last, lastAt = n, now
		}
	}
}

func summary(log *slog.Logger, me *engine.MainEngine, rate float64, symbols []string, first ...any) {
	cnt := me.Counts()
	var open int
	for _, p := range me.AllPositions() {
		if p.Volume > 0 {
			open++
		}
	}
	attrs := append(first, "ticks/s", fmt.Sprintf("%.0f", rate), "orders", cnt.Orders, "active", cnt.ActiveOrders,
		"trades", cnt.Trades, "positions", open)
	for _, a := range me.AllAccounts() {
		attrs = append(attrs, "balance", fmt.Sprintf("%.2f", a.Balance), "available", fmt.Sprintf("%.2f", a.Available()))
	}
	if len(symbols) > 0 {
		if tk, ok := me.Tick(symbols[0]); ok {
			attrs = append(attrs, "last", fmt.Sprintf("%s %g (%g/%g)", symbols[0], tk.LastPrice, tk.BidPrice[0], tk.AskPrice[0]))
		}
	}
	log.Info("summary", attrs...)
}

// demoFlow trades one lot in and out every two seconds at the touch of
// the latest tick, through gateway gw.
func demoFlow(ctx context.Context, me *engine.MainEngine, gw, vt string, log *slog.Logger) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	sym, ex, _ := engine.ParseVtSymbol(vt)
	long := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tk, ok := me.Tick(vt)
		ct, _ := me.Contract(vt)
		if !ok || ct == nil {
			continue // not yet: no tick or contract
		}
		long = !long
		req := engine.OrderRequest{Symbol: sym, Exchange: ex, Type: engine.OrderTypeLimit, Volume: ct.MinVolume}
		stock := ct.Product == engine.ProductEquity
		if long {
			req.Direction, req.Price, req.Offset = engine.DirectionLong, tk.AskPrice[0], engine.OffsetOpen
		} else {
			req.Direction, req.Price, req.Offset = engine.DirectionShort, tk.BidPrice[0], engine.OffsetCloseToday
		}
		if stock {
			req.Offset = engine.OffsetNone
		}
		if _, err := me.SendOrder(req, gw); err != nil {
			log.Warn("demo order", "err", err)
		}
	}
}

// logEvents logs the engine's log events of the given types through log.
func logEvents(ev *engine.EventEngine, log *slog.Logger, types ...string) {
	for _, typ := range types {
		ev.Register(typ, func(e engine.Event) {
			l := e.Data.(*engine.Log)
			log.Log(context.Background(), pyLevel(l.Level), l.Msg, "source", l.GatewayName)
		})
	}
}

func pyLevel(l int) slog.Level {
	switch {
	case l >= engine.LogError:
		return slog.LevelError
	case l >= engine.LogWarning:
		return slog.LevelWarn
	case l >= engine.LogInfo:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// gatewayList is the gateways for a help text: "sim (…), rpc (…)".
func gatewayList() string {
	var parts []string
	for _, d := range gateway.Drivers() {
		parts = append(parts, d.Name+" ("+d.Description+")")
	}
	return strings.Join(parts, "; ")
}
