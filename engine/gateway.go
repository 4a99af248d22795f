package engine

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Gateway is the contract every exchange connection implements (vn.py's
// BaseGateway). Implementations live under gateway/ (gateway/sim) and beside the
// protocol they speak (rpcservice/rpcgateway).
//
// A gateway reports everything through its GatewayBase: ticks, orders,
// trades, positions, accounts, contracts and logs become events. Calls must
// not block on the exchange for long: Connect returns once the connection is
// under way or has failed, and results arrive as events.
type Gateway interface {
	// Name is the gateway's name in this engine, e.g. "SIM" or "RPC".
	Name() string
	// DefaultSetting lists the connect settings and their defaults.
	DefaultSetting() Setting
	// Exchanges lists the exchanges this gateway trades.
	Exchanges() []Exchange
	Connect(setting Setting) error
	Close() error
	Subscribe(req SubscribeRequest) error
	// SendOrder returns the order's vt_orderid. An order the exchange
	// rejects still gets an id: the rejection arrives as an order event
	// with status REJECTED and a Reason. An error means the order was not
	// sent at all (not connected, bad request).
	SendOrder(req OrderRequest) (string, error)
	CancelOrder(req CancelRequest) error
	SendQuote(req QuoteRequest) (string, error)
	CancelQuote(req CancelRequest) error
	QueryAccount() error
	QueryPosition() error
	QueryHistory(req HistoryRequest) ([]Bar, error)
}

// QuickGateway is implemented by gateways whose calls (SendOrder,
// CancelOrder, Subscribe …) return quickly and never wait on the network,
// such as a simulated exchange: a service may run those calls inline,
// without a goroutine hand-off per call.
type QuickGateway interface {
	Quick() bool
}

// ReentrantGateway is implemented by gateways that put their events into
// the event engine holding no lock of their own, so that a handler running
// inside Put (a tap) may call the gateway back, e.g. send an order in
// reaction to a tick on the goroutine that delivered it. The RPC gateway is
// one; the simulated exchange, which puts ticks under its lock, is not.
type ReentrantGateway interface {
	Reentrant() bool
}

// GatewayFactory builds a gateway that reports to ev under name; an empty
// name means the gateway's default name.
type GatewayFactory func(ev *EventEngine, name string) Gateway

// Setting is a gateway's connect settings, as vn.py's setting dict: values
// are strings, numbers (any Go integer or float type: JSON gives float64,
// code int) or bools. Text, Number and Unknown read it with one rule for
// every gateway.
type Setting map[string]any

// Text returns setting k as a string, or def when it is missing. A value
// of another type is an error naming the key.
func (s Setting) Text(k, def string) (string, error) {
	switch v := s[k].(type) {
	case nil:
		return def, nil
	case string:
		return v, nil
	}
	return "", fmt.Errorf("setting %s: want a string, got %T %v", k, s[k], s[k])
}

// Number returns setting k as a float64, or def when it is missing. Any
// Go integer or float type is a number; NaN, and any other type, is an
// error naming the key.
func (s Setting) Number(k string, def float64) (float64, error) {
	var f float64
	switch v := s[k].(type) {
	case nil:
		return def, nil
	case float64:
		f = v
	case float32:
		f = float64(v)
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case int32:
		f = float64(v)
	case uint:
		f = float64(v)
	case uint64:
		f = float64(v)
	case uint32:
		f = float64(v)
	default:
		return 0, fmt.Errorf("setting %s: want a number, got %T %v", k, s[k], s[k])
	}
	if math.IsNaN(f) {
		return 0, fmt.Errorf("setting %s: NaN is not a number here", k)
	}
	return f, nil
}

// Unknown returns an error naming the first key of s (in sorted order)
// that known does not have, listing the accepted keys; nil if there is none.
func (s Setting) Unknown(known Setting) error {
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if _, ok := known[k]; !ok {
			return fmt.Errorf("unknown setting %q (accepted: %s)", k, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
	return nil
}

// Errors callers branch on.
var (
	// ErrNotConnected: the gateway has no live connection.
	ErrNotConnected = errors.New("engine: gateway not connected")
	// ErrUnknownGateway: no gateway of that name was added.
	ErrUnknownGateway = errors.New("engine: unknown gateway")
	// ErrUnknownOrder: the order id is not known to the gateway.
	ErrUnknownOrder = errors.New("engine: unknown order")
	// ErrNotSupported: the gateway does not implement the call.
	ErrNotSupported = errors.New("engine: not supported by this gateway")
	// ErrClosed: the engine or gateway was closed.
	ErrClosed = errors.New("engine: closed")
)

// GatewayBase gives a gateway its name and the On* callbacks that turn
// reports into events. Embed it. Each On* puts the general event and, for
// ticks, trades, orders, positions, accounts and quotes, the specific one,
// both carrying the same object, as vn.py's BaseGateway does.
type GatewayBase struct {
	name string
	ev   *EventEngine
}

// NewGatewayBase returns a base that reports to ev under name.
func NewGatewayBase(ev *EventEngine, name string) GatewayBase {
	return GatewayBase{name: name, ev: ev}
}

func (g *GatewayBase) Name() string              { return g.name }
func (g *GatewayBase) EventEngine() *EventEngine { return g.ev }

// put puts data as an event of the general type and reports whether its
// keyed copy (eTick.rb2601.SHFE), which vn.py always puts too, could reach
// anything (a handler or tap for it, or a general handler); only then do the On methods build the
// key and put the copy.
func (g *GatewayBase) put(general string, data any) (keyed bool) {
	return g.ev.putGeneral(Event{Type: general, Data: data})
}

func (g *GatewayBase) OnTick(t *Tick) {
	if g.put(EventTick, t) {
		g.ev.Put(Event{Type: EventTick + t.VtSymbol(), Data: t})
	}
}

func (g *GatewayBase) OnTrade(t *Trade) {
	if g.put(EventTrade, t) {
		g.ev.Put(Event{Type: EventTrade + t.VtSymbol(), Data: t})
	}
}

func (g *GatewayBase) OnOrder(o *Order) {
	if g.put(EventOrder, o) {
		g.ev.Put(Event{Type: EventOrder + o.VtOrderID(), Data: o})
	}
}

func (g *GatewayBase) OnPosition(p *Position) {
	if g.put(EventPosition, p) {
		g.ev.Put(Event{Type: EventPosition + p.VtSymbol(), Data: p})
	}
}

func (g *GatewayBase) OnAccount(a *Account) {
	if g.put(EventAccount, a) {
		g.ev.Put(Event{Type: EventAccount + a.VtAccountID(), Data: a})
	}
}

func (g *GatewayBase) OnQuote(q *Quote) {
	if g.put(EventQuote, q) {
		g.ev.Put(Event{Type: EventQuote + q.VtSymbol(), Data: q})
	}
}
func (g *GatewayBase) OnContract(c *Contract) { g.ev.Put(Event{Type: EventContract, Data: c}) }
func (g *GatewayBase) OnLog(l *Log)           { g.ev.Put(Event{Type: EventLog, Data: l}) }

// WriteLog reports msg as an INFO log from this gateway.
func (g *GatewayBase) WriteLog(msg string) { g.WriteLogLevel(LogInfo, msg) }

// WriteLogLevel reports msg at a Python logging level (LogInfo, LogWarning …).
func (g *GatewayBase) WriteLogLevel(level int, msg string) {
	g.OnLog(&Log{GatewayName: g.name, Msg: msg, Level: level, Time: time.Now()})
}
