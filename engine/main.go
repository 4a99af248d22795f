package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// App is a plug-in engine added to a MainEngine, such as the RPC service.
type App interface {
	// Name is the app's unique name, e.g. "RpcService".
	Name() string
	// Close stops the app. MainEngine.Close calls it before the gateways
	// close, while events still flow.
	Close() error
}

// AppFactory builds an app for a main engine.
type AppFactory func(m *MainEngine) (App, error)

// MainEngine is the trading core: it owns an EventEngine, the gateways, the
// apps and the OMS (the latest state of every reported object: Tick,
// AllOrders …), and routes calls to gateways by name. Its methods are
// safe for concurrent use.
type MainEngine struct {
	oms *oms
	ev  *EventEngine
	log *slog.Logger

	mu        sync.RWMutex
	gateways  *ordered[Gateway]
	apps      *ordered[App]
	exchanges []Exchange
	closed    bool
	unreg     []func()
}

// NewMainEngine returns a main engine over ev, which it starts. A nil ev
// gets a new EventEngine with default options. logger receives the engine's
// own slog output (nil: slog.Default()).
func NewMainEngine(ev *EventEngine, logger *slog.Logger) *MainEngine {
	if logger == nil {
		logger = slog.Default()
	}
	if ev == nil {
		ev = NewEventEngine(WithLogger(logger))
	}
	m := &MainEngine{oms: newOMS(), ev: ev, log: logger, gateways: newOrdered[Gateway](), apps: newOrdered[App]()}
	m.unreg = m.oms.register(ev)
	ev.Start()
	return m
}

// EventEngine returns the engine's event engine.
func (m *MainEngine) EventEngine() *EventEngine { return m.ev }

// AddGateway builds a gateway with f and adds it under name (empty: the
// gateway's default name). Names must be unique.
func (m *MainEngine) AddGateway(f GatewayFactory, name string) (Gateway, error) {
	gw := f(m.ev, name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if _, dup := m.gateways.get(gw.Name()); dup {
		return nil, fmt.Errorf("engine: gateway %q added twice", gw.Name())
	}
	m.gateways.set(gw.Name(), gw)
	for _, ex := range gw.Exchanges() {
		if !slices.Contains(m.exchanges, ex) {
			m.exchanges = append(m.exchanges, ex)
		}
	}
	return gw, nil
}

// AddApp builds an app with f and adds it. Names must be unique.
func (m *MainEngine) AddApp(f AppFactory) (App, error) {
	app, err := f(m)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		_ = app.Close()
		return nil, ErrClosed
	}
	if _, dup := m.apps.get(app.Name()); dup {
		_ = app.Close()
		return nil, fmt.Errorf("engine: app %q added twice", app.Name())
	}
	m.apps.set(app.Name(), app)
	return app, nil
}

// Gateway returns the gateway called name, or an error wrapping ErrUnknownGateway.
func (m *MainEngine) Gateway(name string) (Gateway, error) {
	m.mu.RLock()
	gw, ok := m.gateways.get(name)
	closed := m.closed
	m.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if !ok {
		return nil, fmt.Errorf("%w %q (have %v)", ErrUnknownGateway, name, m.GatewayNames())
	}
	return gw, nil
}

// App returns the app called name.
func (m *MainEngine) App(name string) (App, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.apps.get(name)
}

// GatewayNames lists the gateways in the order they were added.
func (m *MainEngine) GatewayNames() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, m.gateways.len())
	for _, gw := range m.gateways.all() {
		out = append(out, gw.Name())
	}
	return out
}

// Apps lists the apps in the order they were added.
func (m *MainEngine) Apps() []App {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.apps.all()
}

// Exchanges lists every exchange some gateway trades.
func (m *MainEngine) Exchanges() []Exchange {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Clone(m.exchanges)
}

// Connect connects gateway gw with setting.
func (m *MainEngine) Connect(setting Setting, gw string) error {
	g, err := m.Gateway(gw)
	if err != nil {
		return err
	}
	m.WriteLog("connect -> "+gw, "MainEngine")
	return g.Connect(setting)
}

// Subscribe asks gateway gw for market data of req's contract.
func (m *MainEngine) Subscribe(req SubscribeRequest, gw string) error {
	g, err := m.Gateway(gw)
	if err != nil {
		return err
	}
	m.WriteLog(fmt.Sprintf("subscribe -> %s: %s", gw, req.VtSymbol()), "MainEngine")
	return g.Subscribe(req)
}

// SendOrder sends req through gateway gw and returns the order's vt_orderid.
// Orders and cancels are logged at debug level through the engine's slog
// logger, not as log events: on the order path, an event per order would
// cost a dispatcher wake-up here and, on a server, a published record that
// every client decodes (vn.py does not log them either).
func (m *MainEngine) SendOrder(req OrderRequest, gw string) (string, error) {
	g, err := m.Gateway(gw)
	if err != nil {
		return "", err
	}
	if m.log.Enabled(context.Background(), slog.LevelDebug) {
		m.log.Debug(fmt.Sprintf("send order -> %s: %s %s %s %s %g@%g", gw, req.VtSymbol(), req.Direction,
			req.Offset, req.Type, req.Volume, req.Price))
	}
	return g.SendOrder(req)
}

// CancelOrder cancels an order through gateway gw.
func (m *MainEngine) CancelOrder(req CancelRequest, gw string) error {
	g, err := m.Gateway(gw)
	if err != nil {
		return err
	}
	if m.log.Enabled(context.Background(), slog.LevelDebug) {
		m.log.Debug(fmt.Sprintf("cancel order -> %s: %s %s", gw, req.VtSymbol(), req.OrderID))
	}
	return g.CancelOrder(req)
}

// SendQuote sends a quote through gateway gw and returns its vt_quoteid.
func (m *MainEngine) SendQuote(req QuoteRequest, gw string) (string, error) {
	g, err := m.Gateway(gw)
	if err != nil {
		return "", err
	}
	m.log.Debug("send quote -> " + gw + ": " + req.VtSymbol())
	return g.SendQuote(req)
}

// CancelQuote cancels a quote through gateway gw.
func (m *MainEngine) CancelQuote(req CancelRequest, gw string) error {
	g, err := m.Gateway(gw)
	if err != nil {
		return err
	}
	m.log.Debug(fmt.Sprintf("cancel quote -> %s: %s %s", gw, req.VtSymbol(), req.OrderID))
	return g.CancelQuote(req)
}

// QueryHistory asks gateway gw for bars.
func (m *MainEngine) QueryHistory(req HistoryRequest, gw string) ([]Bar, error) {
	g, err := m.Gateway(gw)
	if err != nil {
		return nil, err
	}
	m.WriteLog(fmt.Sprintf("query history -> %s: %s %s", gw, req.VtSymbol(), req.Interval), "MainEngine")
	return g.QueryHistory(req)
}

// WriteLog puts an INFO log event from source.
func (m *MainEngine) WriteLog(msg, source string) {
	m.ev.Put(Event{Type: EventLog, Data: &Log{GatewayName: source, Msg: msg, Level: LogInfo, Time: time.Now()}})
}

// Close stops everything in a safe order: the apps first (newest first, so
// the RPC service stops serving while the engine still works), then the
// gateways (no more reports), then the event engine, which handles the
// events already queued before it stops. Close is idempotent; the first
// call returns every error met, later calls return nil.
func (m *MainEngine) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	apps, gws := m.apps.all(), m.gateways.all()
	m.mu.Unlock()

	var errs []error
	for i := len(apps) - 1; i >= 0; i-- {
		if err := apps[i].Close(); err != nil {
			errs = append(errs, fmt.Errorf("close app %s: %w", apps[i].Name(), err))
		}
	}
	for _, gw := range gws {
		if err := gw.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close gateway %s: %w", gw.Name(), err))
		}
	}
	m.ev.Stop()
	for _, u := range m.unreg {
		u()
	}
	return errors.Join(errs...)
}
