package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

// ClientConfig is the configuration of "vnrpc client".
type ClientConfig struct {
	Address         string
	Transport       string
	ClientKeyFile   string
	ServerKeyFile   string
	Timeout         time.Duration
	Wait            string
	Symbols         []string
	LogLevel        string
	SummaryInterval time.Duration
	Demo            bool
	UI              UIConfig
	// NoConnect leaves the gateway unconnected: with the console, the user
	// connects from its dialog (no address was given).
	NoConnect bool
}

func parseClient(args []string, stderr io.Writer) (ClientConfig, error) {
	c := ClientConfig{Address: "tcp://127.0.0.1:2014", Transport: "auto", Timeout: 30 * time.Second, Wait: "block",
		LogLevel: "info", SummaryInterval: time.Second, UI: UIConfig{Addr: "127.0.0.1:8015"}}
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Transport, "transport", c.Transport, "auto (local on the same host, else tcp), local or tcp")
	fs.StringVar(&c.ClientKeyFile, "client-key", "", "CURVE: this client's key file (vnrpc keys)")
	fs.StringVar(&c.ServerKeyFile, "server-key", "", "CURVE: the server's public key file")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "call timeout")
	fs.StringVar(&c.Wait, "wait", c.Wait, "how local events are awaited: block or spin (spin takes a core)")
	syms := fs.String("symbols", "rb2601.SHFE", "comma-separated vt_symbols to subscribe once contracts arrive")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.DurationVar(&c.SummaryInterval, "summary-interval", c.SummaryInterval, "how often to log the one-line summary")
	fs.BoolVar(&c.Demo, "demo", false, "trade a sample order flow through the RPC gateway (1 lot in and out every 2s on the first symbol)")
	uiFlags(fs, &c.UI)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: vnrpc client [flags] [ADDRESS]

Runs a main engine with the RPC gateway connected to the server at ADDRESS
(tcp://HOST:PORT, default tcp://127.0.0.1:2014, or a unix socket path), and
logs a live summary (transport, lag, ticks/s, orders, trades) and the logs.
On the server's host the gateway switches to shared memory by itself.
With --ui and no ADDRESS, the console's connect dialog connects instead.

Flags:
`)
		fs.PrintDefaults()
	}
	// Flags may come before or after the address.
	var rest []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return c, err
			}
			return c, usageErr("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) > 1 {
		return c, usageErr("want one address, got %q", rest)
	}
	if len(rest) == 1 {
		c.Address = rest[0]
	}
	c.NoConnect = c.UI.Enabled && len(rest) == 0
	c.Symbols = splitList(*syms)
	if _, err := rpc.ParseTransport(c.Transport); err != nil {
		return c, usageErr("transport %q: accepted values are auto, local, tcp", c.Transport)
	}
	if c.Wait != "block" && c.Wait != "spin" {
		return c, usageErr("wait %q: accepted values are block, spin", c.Wait)
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		return c, usageErr("log-level %q: accepted values are debug, info, warn, error", c.LogLevel)
	}
	if c.Timeout <= 0 || c.SummaryInterval < 10*time.Millisecond {
		return c, usageErr("timeout must be positive and summary-interval at least 10ms")
	}
	for _, s := range c.Symbols {
		if _, _, err := engine.ParseVtSymbol(s); err != nil {
			return c, usageErr("symbols: %q is not symbol.EXCHANGE (e.g. rb2601.SHFE)", s)
		}
	}
	if c.Demo && len(c.Symbols) == 0 {
		return c, usageErr("demo: needs at least one symbol to trade")
	}
	return c, nil
}

func clientCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseClient(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevels[c.LogLevel]}))
	return RunClient(ctx, c, log)
}

// RunClient runs a main engine with the RPC gateway until ctx is done.
func RunClient(ctx context.Context, c ClientConfig, log *slog.Logger) error {
	me := engine.NewMainEngine(nil, log)
	var subs *subscriber
	defer func() {
		if err := me.Close(); err != nil { // ends subscriptions in flight
			log.Error("close", "err", err)
		}
		subs.Close()
		log.Info("client stopped")
	}()
	ev := me.EventEngine()
	logEvents(ev, log, engine.EventLog, rpcgateway.EventRpcLog)
	var ticks atomic.Uint64
	ev.RegisterTap(engine.EventTick, func(engine.Event) { ticks.Add(1) }) // a tap: no dispatch per tick
	subs = subscribeWhenListed(me, rpcgateway.DefaultName, c.Symbols, log)
	gwi, err := me.AddGateway(rpcgateway.Factory(rpcgateway.Options{Logger: log}), rpcgateway.DefaultName)
	if err != nil {
		return err
	}
	gw := gwi.(*rpcgateway.Gateway)
	setting := engine.Setting{rpcgateway.KeyAddress: c.Address, rpcgateway.KeyTransport: c.Transport,
		rpcgateway.KeyClientKey: c.ClientKeyFile, rpcgateway.KeyServerKey: c.ServerKeyFile,
		rpcgateway.KeyTimeout: c.Timeout.Seconds(), rpcgateway.KeyWait: c.Wait}
	con, err := startConsole(me, c.UI, "vnrpc client", map[string]engine.Setting{gw.Name(): setting}, log)
	if err != nil {
		return err
	}
	if con != nil {
		defer con.Close()
	}
	if !c.NoConnect {
		if err := me.Connect(setting, gw.Name()); err != nil {
			return usageErr("%v", err)
		}
	}
	run(ctx, me, gw.Name(), c.Demo, c.Symbols, c.SummaryInterval, &ticks, log, func(rate float64) {
		transport, lag, lapped := "none", "-", uint64(0)
		if cl := gw.Client(); cl != nil {
			st := cl.Status()
			if st.Connected {
				transport = st.Transport.String()
			}
			lag, lapped = fmt.Sprint(st.Lag), st.Laps
		}
		summary(log, me, rate, c.Symbols, "transport", transport, "lag", lag, "laps", lapped)
	})
	return nil
}
