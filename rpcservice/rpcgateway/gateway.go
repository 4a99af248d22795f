// Package rpcgateway is the RPC gateway (vn.py's RpcGateway): it makes a remote
// engine served by package rpcservice look like a local exchange gateway.
// Orders, trades, positions, accounts, contracts, quotes and ticks arrive
// as the server publishes them — through shared memory on the same host,
// over ZeroMQ TCP from the LAN, chosen automatically — renamed to this
// gateway, with every vt id recomputed.
//
// Where vn.py's gateway blocks the caller while it connects, never
// reconnects and routes a contract pushed after connecting to gateway "",
// this one connects in the background (Connect returns at once), follows
// pushed contracts in its symbol map, reconnects with backoff, and after a
// ring lap, a reconnect or a server restart resyncs: it re-queries the
// server's state and emits events only for what changed, so the client's
// engine ends equal to the server's.
package rpcgateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/lan"
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// DefaultName is the gateway's default name (vn.py's default_name).
const DefaultName = "RPC"

// EventRpcLog is the server's RPC service log, forwarded as is.
const EventRpcLog = wire.EventRpcLog

// EventState is the connection state event; its data is *State.
const EventState = "eRpcState"

// State reports the gateway's connection.
type State struct {
	Gateway   string
	State     string        // "connecting", "connected", "disconnected", "resyncing", "resynced"
	Transport rpc.Transport // TransportLocal or TransportTCP once connected
	Epoch     uint64
	Reason    string // why a resync ran, or why the connection was lost
	Time      time.Time
}

// DefaultAddress is the server address a gateway dials unless its
// settings give another: vn.py's request port on loopback.
const DefaultAddress = "tcp://127.0.0.1:2014"

// Setting keys (vn.py's gateway has two addresses; one is enough here:
// the event endpoint comes from the server's hello).
const (
	KeyAddress   = "address"           // tcp://HOST:PORT or a unix socket path
	KeyTransport = "transport"         // auto | local | tcp
	KeyClientKey = "client_key_file"   // CURVE: this client's key pair (vnrpc keys)
	KeyServerKey = "server_key_file"   // CURVE: the server's public key
	KeyTimeout   = "timeout"           // call timeout in seconds
	KeyWait      = "wait"              // block | spin: how local events are awaited
	KeyPollUs    = "poll_microseconds" // >0: local calls poll this long before parking
)

// Options configure a gateway beyond its settings.
type Options struct {
	// Logger receives the rpc client's own logs (default slog.Default()).
	Logger *slog.Logger
	// OnRawEvent, if set, sees every record before it is decoded (for
	// latency measurement): record type, CLOCK_MONOTONIC publish time.
	OnRawEvent func(typ uint32, published int64)
}

// Factory returns a factory for MainEngine.AddGateway.
func Factory(o Options) engine.GatewayFactory {
	return func(ev *engine.EventEngine, name string) engine.Gateway { return New(ev, name, o) }
}

// Gateway is the RPC gateway. Its methods are safe for concurrent use.
type Gateway struct {
	engine.GatewayBase
	opts Options

	mu       sync.Mutex
	client   *rpc.Client
	timeout  time.Duration
	symbols  map[string]string                  // vt_symbol -> server gateway
	subs     map[string]engine.SubscribeRequest // by vt_symbol, to subscribe again after a restart
	mirror   mirror
	started  bool
	closed   bool
	ctx      context.Context // cancelled by Close
	stopAll  context.CancelFunc
	wg       sync.WaitGroup
	resyncCh chan string

	gen  atomic.Uint64 // events delivered so far (a local count: server sequences restart with an epoch)
	last tickStrings   // event goroutine only: the last tick's strings as the server sent them
}

// tickStrings are a tick's strings (and exchange): the decoder keeps those
// a new tick seeded with them repeats instead of allocating them.
type tickStrings struct {
	gateway, symbol, name string
	exchange              engine.Exchange
}

// New returns a gateway named name (empty: DefaultName).
func New(ev *engine.EventEngine, name string, o Options) *Gateway {
	if name == "" {
		name = DefaultName
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Gateway{GatewayBase: engine.NewGatewayBase(ev, name), opts: o, symbols: map[string]string{},
		subs: map[string]engine.SubscribeRequest{}, mirror: newMirror(), resyncCh: make(chan string, 1),
		timeout: 30 * time.Second}
	g.ctx, g.stopAll = context.WithCancel(context.Background())
	return g
}

// DefaultSetting lists the settings with their defaults.
func (g *Gateway) DefaultSetting() engine.Setting {
	return engine.Setting{KeyAddress: DefaultAddress, KeyTransport: "auto", KeyClientKey: "",
		KeyServerKey: "", KeyTimeout: 30, KeyWait: "block", KeyPollUs: 0}
}

// Exchanges is every exchange: the server's gateways decide.
func (g *Gateway) Exchanges() []engine.Exchange { return engine.AllExchanges() }

// clientOptions reads the settings (engine.Setting's rules).
func (g *Gateway) clientOptions(s engine.Setting) (rpc.ClientOptions, time.Duration, error) {
	var errs []error
	text := func(k, def string) string {
		v, err := s.Text(k, def)
		errs = append(errs, err)
		return v
	}
	number := func(k string, def float64) float64 {
		v, err := s.Number(k, def)
		errs = append(errs, err)
		return v
	}
	o := rpc.ClientOptions{Addr: text(KeyAddress, DefaultAddress)}
	transport, wait := text(KeyTransport, "auto"), text(KeyWait, "block")
	poll, secs := number(KeyPollUs, 0), number(KeyTimeout, 30)
	ck, sk := text(KeyClientKey, ""), text(KeyServerKey, "")
	if err := errors.Join(errs...); err != nil {
		return o, 0, fmt.Errorf("gateway %s: %w", g.Name(), err)
	}
	var err error
	switch {
	case o.Addr == "":
		err = fmt.Errorf("setting %s: give the server's address (%s, or a unix socket path)", KeyAddress, DefaultAddress)
	case !(secs > 0):
		err = fmt.Errorf("setting %s: want a positive number of seconds", KeyTimeout)
	case poll < 0:
		err = fmt.Errorf("setting %s: want 0 or more microseconds", KeyPollUs)
	}
	if err == nil {
		o.Transport, err = rpc.ParseTransport(transport)
	}
	if err == nil {
		switch wait {
		case "block":
			o.Wait = ring.WaitBlock
		case "spin":
			o.Wait = ring.WaitSpin
		default:
			err = fmt.Errorf("setting %s %q: accepted values are block, spin", KeyWait, wait)
		}
	}
	if err == nil {
		o.Curve, err = lan.LoadClientCurve(ck, sk)
	}
	if err != nil {
		return o, 0, fmt.Errorf("gateway %s: %w", g.Name(), err)
	}
	o.Poll = time.Duration(poll) * time.Microsecond
	return o, time.Duration(secs * float64(time.Second)), nil
}

// Connect checks the settings and returns at once; the gateway connects
// in the background, logging each step, and keeps reconnecting.
func (g *Gateway) Connect(s engine.Setting) error {
	o, timeout, err := g.clientOptions(s)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return engine.ErrClosed
	}
	if g.started {
		return fmt.Errorf("gateway %s: already connected or connecting", g.Name())
	}
	g.started, g.timeout = true, timeout
	o.OnEvent = g.onEvent
	o.OnState = g.onState
	o.Logger = g.opts.Logger
	g.wg.Add(1)
	go g.run(o)
	return nil
}

// run dials until it succeeds, then serves resync requests until Close.
func (g *Gateway) run(o rpc.ClientOptions) {
	defer g.wg.Done()
	g.state(State{State: "connecting"})
	g.WriteLog(fmt.Sprintf("connecting to %s (transport %s)", o.Addr, o.Transport))
	backoff := 100 * time.Millisecond
	var c *rpc.Client
	for c == nil {
		ctx, cancel := context.WithTimeout(g.ctx, 5*time.Second) // Close cancels a dial in progress
		var err error
		c, err = rpc.Dial(ctx, o)
		cancel()
		if err != nil && g.ctx.Err() != nil {
			return // closed while dialing: nothing failed
		}
		if err != nil {
			g.WriteLogLevel(engine.LogWarning, fmt.Sprintf("connect to %s failed: %v; retrying in %v", o.Addr, err, backoff))
			select {
			case <-g.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		_ = c.Close()
		return
	}
	g.client = c
	g.mu.Unlock()
	tr, _ := c.Transport()
	g.WriteLog(fmt.Sprintf("connected to %s over %s; querying the server's state", o.Addr, tr))
	g.sync("connect")
	for {
		select {
		case <-g.ctx.Done():
			return
		case reason := <-g.resyncCh:
			g.sync(reason)
		}
	}
}

// onState follows the client's connection: connected, disconnected and
// resync (after a lap, a gap, a reconnect or a new server epoch).
func (g *Gateway) onState(sc rpc.StateChange) {
	switch sc.State {
	case rpc.StateConnected:
		g.state(State{State: "connected", Transport: sc.Transport, Epoch: sc.Epoch})
	case rpc.StateDisconnected:
		reason := ""
		if sc.Err != nil {
			reason = sc.Err.Error()
		}
		g.state(State{State: "disconnected", Transport: sc.Transport, Epoch: sc.Epoch, Reason: reason})
	case rpc.StateResync:
		select {
		case g.resyncCh <- sc.Reason:
		default: // one is already queued; it will see everything
		}
	}
}

func (g *Gateway) state(s State) {
	s.Gateway, s.Time = g.Name(), time.Now()
	if s.State != "connecting" {
		msg := "connection " + s.State
		if s.Transport != rpc.TransportAuto {
			msg += " (" + s.Transport.String() + ")"
		}
		if s.Reason != "" {
			msg += ": " + s.Reason
		}
		g.WriteLog(msg)
	}
	g.EventEngine().Put(engine.Event{Type: EventState, Data: &s})
}

// call makes one call with the gateway's timeout.
func (g *Gateway) call(method string, args []byte) ([]byte, error) {
	g.mu.Lock()
	c, timeout := g.client, g.timeout
	g.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("gateway %s: %w", g.Name(), engine.ErrNotConnected)
	}
	res, err := c.CallRawTimeout(g.ctx, method, args, timeout)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %s: %w", g.Name(), method, err)
	}
	return res, nil
}

// route is the server gateway serving vtSymbol.
func (g *Gateway) route(vtSymbol string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gw, ok := g.symbols[vtSymbol]
	if !ok {
		return "", fmt.Errorf("gateway %s: no contract %s on the server", g.Name(), vtSymbol)
	}
	return gw, nil
}

// Subscribe subscribes through the server gateway that has the contract;
// the subscription is renewed after a server restart.
func (g *Gateway) Subscribe(req engine.SubscribeRequest) error {
	gw, err := g.route(req.VtSymbol())
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.subs[req.VtSymbol()] = req
	g.mu.Unlock()
	args, err := wire.EncodeArgs(&req, gw)
	if err != nil {
		return err
	}
	_, err = g.call(wire.MethodSubscribe, args)
	return err
}

// SendOrder sends req and returns this gateway's vt_orderid for it.
func (g *Gateway) SendOrder(req engine.OrderRequest) (string, error) {
	return g.send(wire.MethodSendOrder, req.VtSymbol(), &req)
}

// SendQuote sends req and returns this gateway's vt_quoteid for it.
func (g *Gateway) SendQuote(req engine.QuoteRequest) (string, error) {
	return g.send(wire.MethodSendQuote, req.VtSymbol(), &req)
}

func (g *Gateway) send(method, vtSymbol string, req any) (string, error) {
	gw, err := g.route(vtSymbol)
	if err != nil {
		return "", err
	}
	args, err := wire.EncodeArgs(req, gw)
	if err != nil {
		return "", err
	}
	res, err := g.call(method, args)
	if err != nil {
		return "", err
	}
	var vt string
	if err := msgpack.Unmarshal(res, &vt); err != nil {
		return "", fmt.Errorf("gateway %s: %s: bad reply: %w", g.Name(), method, err)
	}
	if vt == "" {
		return "", nil
	}
	if !strings.HasPrefix(vt, gw+".") {
		return "", fmt.Errorf("gateway %s: %s: the server answered %q, not an id of gateway %s", g.Name(), method, vt, gw)
	}
	return g.Name() + "." + vt, nil // the server's SIM.7 is RPC.SIM.7 here (see localize)
}

// CancelOrder cancels through the server gateway that has the contract.
func (g *Gateway) CancelOrder(req engine.CancelRequest) error {
	return g.cancel(wire.MethodCancelOrder, req)
}

// CancelQuote cancels a quote the same way.
func (g *Gateway) CancelQuote(req engine.CancelRequest) error {
	return g.cancel(wire.MethodCancelQuote, req)
}

func (g *Gateway) cancel(method string, req engine.CancelRequest) error {
	gw, err := g.route(req.VtSymbol())
	if err != nil {
		return err
	}
	id, ok := strings.CutPrefix(req.OrderID, gw+".")
	if !ok {
		return fmt.Errorf("gateway %s: %s: id %q is not one of server gateway %s's (want %s.<id>)", g.Name(), method,
			req.OrderID, gw, gw)
	}
	req.OrderID = id
	args, err := wire.EncodeArgs(&req, gw)
	if err != nil {
		return err
	}
	_, err = g.call(method, args)
	return err
}

// QueryAccount and QueryPosition do nothing: the server pushes both.
func (g *Gateway) QueryAccount() error  { return nil }
func (g *Gateway) QueryPosition() error { return nil }

// QueryHistory asks the server gateway that has the contract; the bars
// carry this gateway's name.
func (g *Gateway) QueryHistory(req engine.HistoryRequest) ([]engine.Bar, error) {
	gw, err := g.route(req.VtSymbol())
	if err != nil {
		return nil, err
	}
	args, err := wire.EncodeArgs(&req, gw)
	if err != nil {
		return nil, err
	}
	res, err := g.call(wire.MethodQueryHistory, args)
	if err != nil {
		return nil, err
	}
	bars, err := wire.DecodeList[engine.Bar](res)
	if err != nil {
		return nil, err
	}
	out := make([]engine.Bar, len(bars))
	for i, b := range bars {
		out[i] = *b
		out[i].GatewayName = g.Name()
	}
	return out, nil
}

// Reentrant reports that the gateway puts its events holding no lock
// (engine.ReentrantGateway): a tap may send orders from inside Put.
func (g *Gateway) Reentrant() bool { return true }

var _ engine.ReentrantGateway = (*Gateway)(nil)

// Transport is the transport of the connection, and false while
// disconnected.
func (g *Gateway) Transport() (rpc.Transport, bool) {
	g.mu.Lock()
	c := g.client
	g.mu.Unlock()
	if c == nil {
		return rpc.TransportAuto, false
	}
	return c.Transport()
}

// Client is the underlying rpc client once connected (for stats), or nil.
func (g *Gateway) Client() *rpc.Client {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.client
}

// Close disconnects and stops the gateway's goroutines. It is idempotent.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.stopAll()
	g.mu.Unlock()
	g.wg.Wait()
	g.mu.Lock()
	c := g.client
	g.client = nil
	g.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}
