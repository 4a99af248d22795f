package rpc

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/engine/wire"
	vrpc "github.com/vnrpc/vnrpc/rpc"
)

// entry is the last state of one object this gateway emitted, with the
// local event count when it was set.
type entry[T any] struct {
	v   T
	gen uint64
}

// mirror is what the gateway has emitted, by this gateway's ids: a resync
// compares the server's state with it and emits only the differences.
type mirror struct {
	orders    map[string]entry[engine.Order]
	trades    map[string]entry[engine.Trade]
	positions map[string]entry[engine.Position]
	accounts  map[string]entry[engine.Account]
	contracts map[string]entry[engine.Contract]
	quotes    map[string]entry[engine.Quote]
	// ticks by symbol and exchange (no vt_symbol built per tick): the tick
	// emitted, shared with the handlers (events are read-only once put).
	ticks    map[engine.SubscribeRequest]*entry[*engine.Tick]
	lastTick *entry[*engine.Tick] // the slot of the last tick received
}

func newMirror() mirror {
	return mirror{orders: map[string]entry[engine.Order]{}, trades: map[string]entry[engine.Trade]{},
		positions: map[string]entry[engine.Position]{}, accounts: map[string]entry[engine.Account]{},
		contracts: map[string]entry[engine.Contract]{}, quotes: map[string]entry[engine.Quote]{},
		ticks: map[engine.SubscribeRequest]*entry[*engine.Tick]{}}
}

// onEvent receives each published record, in order, on the client's event
// goroutine: it renames the object to this gateway, records it and emits
// it as the gateway's own event.
func (g *Gateway) onEvent(ev vrpc.Event) {
	if g.opts.OnRawEvent != nil {
		g.opts.OnRawEvent(ev.Type, ev.Timestamp)
	}
	gen := g.gen.Add(1)
	name := g.Name()
	if ev.Type == wire.TypeTick { // the hot path: decode straight into the tick emitted
		l := &g.last // seeded with the last tick's strings, the decoder keeps unchanged ones
		t := &engine.Tick{GatewayName: l.gateway, Symbol: l.symbol, Exchange: l.exchange, Name: l.name}
		if err := wire.DecodeTickFast(ev.Payload, t); err != nil {
			g.WriteLogLevel(engine.LogError, fmt.Sprintf("dropped a malformed tick (seq %d): %v", ev.Seq, err))
			return
		}
		*l = tickStrings{gateway: t.GatewayName, symbol: t.Symbol, name: t.Name, exchange: t.Exchange}
		t.GatewayName = name
		g.mu.Lock()
		*g.mirror.tickSlot(t) = entry[*engine.Tick]{t, gen}
		g.mu.Unlock()
		g.OnTick(t)
		return
	}
	e, err := wire.DecodeEvent(ev.Type, ev.Payload)
	if err != nil {
		g.WriteLogLevel(engine.LogError, fmt.Sprintf("dropped a malformed event (seq %d, type %d): %v", ev.Seq, ev.Type, err))
		return
	}
	g.mu.Lock()
	if c, ok := e.Data.(*engine.Contract); ok {
		g.symbols[c.VtSymbol()] = c.GatewayName // the map follows pushed contracts
	}
	localize(e.Data, name)
	switch d := e.Data.(type) {
	case *engine.Order:
		g.mirror.orders[d.VtOrderID()] = entry[engine.Order]{*d, gen}
	case *engine.Trade:
		g.mirror.trades[d.VtTradeID()] = entry[engine.Trade]{*d, gen}
	case *engine.Position:
		g.mirror.positions[d.VtPositionID()] = entry[engine.Position]{*d, gen}
	case *engine.Account:
		g.mirror.accounts[d.VtAccountID()] = entry[engine.Account]{*d, gen}
	case *engine.Quote:
		g.mirror.quotes[d.VtQuoteID()] = entry[engine.Quote]{*d, gen}
	case *engine.Contract:
		g.mirror.contracts[d.VtSymbol()] = entry[engine.Contract]{*d, gen}
	}
	g.mu.Unlock()
	g.emit(e)
}

// localize renames a server object to this gateway. The ids that a
// server's gateways assign on their own (order, trade, quote and account
// ids) get the server gateway's name in front, so that objects of two
// server gateways never collide under this one name: the server's order
// SIM.7 is RPC.SIM.7 here (its OrderID is "SIM.7"). Logs appear from this
// gateway, as in vn.py.
func localize(v any, name string) {
	switch d := v.(type) {
	case *engine.Order:
		d.OrderID = d.GatewayName + "." + d.OrderID
		d.GatewayName = name
	case *engine.Trade:
		d.OrderID = d.GatewayName + "." + d.OrderID
		d.TradeID = d.GatewayName + "." + d.TradeID
		d.GatewayName = name
	case *engine.Quote:
		d.QuoteID = d.GatewayName + "." + d.QuoteID
		d.GatewayName = name
	case *engine.Account:
		d.AccountID = d.GatewayName + "." + d.AccountID
		d.GatewayName = name
	case *engine.Position:
		d.GatewayName = name
	case *engine.Contract:
		d.GatewayName = name
	case *engine.Tick:
		d.GatewayName = name
	case *engine.Log:
		d.GatewayName = name
	}
}

// emit puts an object's events as a local gateway would.
func (g *Gateway) emit(e engine.Event) {
	switch d := e.Data.(type) {
	case *engine.Order:
		g.OnOrder(d)
	case *engine.Trade:
		g.OnTrade(d)
	case *engine.Position:
		g.OnPosition(d)
	case *engine.Account:
		g.OnAccount(d)
	case *engine.Quote:
		g.OnQuote(d)
	case *engine.Contract:
		g.OnContract(d)
	case *engine.Tick:
		g.OnTick(d)
	default:
		if d, ok := e.Data.(*engine.Log); ok && e.Type == engine.EventLog {
			g.OnLog(d)
			return
		}
		g.EventEngine().Put(e)
	}
}

// sync queries the server's state in vn.py's order (contracts, accounts,
// positions, orders, trades; then active orders and the ticks of
// subscribed symbols) and emits what differs from what this gateway has
// emitted. An object pushed since the queries began is newer than the
// snapshot and is kept. Orders still active here that the server no longer
// knows (it restarted) are emitted as cancelled.
func (g *Gateway) sync(reason string) {
	start := time.Now()
	if reason != "connect" {
		g.state(State{State: "resyncing", Transport: g.Transport(), Reason: reason})
		if reason == "new epoch" || reason == "reconnect" {
			g.resubscribe()
		}
	}
	gen0 := g.gen.Load()
	var out []engine.Event
	changed := 0
	step := func(what string, n int, err error) bool {
		if err != nil {
			g.WriteLogLevel(engine.LogWarning, fmt.Sprintf("query %s failed: %v", what, err))
			return false
		}
		if reason == "connect" {
			g.WriteLog(fmt.Sprintf("%s queried (%d)", what, n))
		}
		return true
	}
	flush := func() {
		changed += len(out)
		for _, e := range out {
			g.emit(e)
		}
		out = out[:0]
	}

	contracts, err := query[engine.Contract](g, wire.MethodGetAllContracts)
	if !step("contracts", len(contracts), err) {
		return
	}
	g.mu.Lock()
	for _, c := range contracts {
		g.symbols[c.VtSymbol()] = c.GatewayName
		localize(c, g.Name())
		if apply(g.mirror.contracts, c.VtSymbol(), *c, gen0) {
			out = append(out, engine.Event{Type: engine.EventContract, Data: c})
		}
	}
	g.mu.Unlock()
	flush()

	accounts, err := query[engine.Account](g, wire.MethodGetAllAccounts)
	if !step("accounts", len(accounts), err) {
		return
	}
	g.mu.Lock()
	for _, a := range accounts {
		localize(a, g.Name())
		if apply(g.mirror.accounts, a.VtAccountID(), *a, gen0) {
			out = append(out, engine.Event{Type: engine.EventAccount, Data: a})
		}
	}
	g.mu.Unlock()
	flush()

	positions, err := query[engine.Position](g, wire.MethodGetAllPositions)
	if !step("positions", len(positions), err) {
		return
	}
	g.mu.Lock()
	seen := map[string]bool{}
	for _, p := range positions {
		localize(p, g.Name())
		seen[p.VtPositionID()] = true
		if apply(g.mirror.positions, p.VtPositionID(), *p, gen0) {
			out = append(out, engine.Event{Type: engine.EventPosition, Data: p})
		}
	}
	for id, old := range g.mirror.positions { // gone on the server (it restarted): now flat
		if !seen[id] && old.gen <= gen0 && (old.v.Volume != 0 || old.v.Frozen != 0 || old.v.YdVolume != 0) {
			p := old.v
			p.Volume, p.Frozen, p.YdVolume, p.Pnl = 0, 0, 0, 0
			g.mirror.positions[id] = entry[engine.Position]{p, gen0}
			out = append(out, engine.Event{Type: engine.EventPosition, Data: &p})
		}
	}
	g.mu.Unlock()
	flush()

	orders, err := query[engine.Order](g, wire.MethodGetAllOrders)
	if !step("orders", len(orders), err) {
		return
	}
	g.mu.Lock()
	seen = map[string]bool{}
	for _, o := range orders {
		localize(o, g.Name())
		seen[o.VtOrderID()] = true
		if apply(g.mirror.orders, o.VtOrderID(), *o, gen0) {
			out = append(out, engine.Event{Type: engine.EventOrder, Data: o})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(g.mirror.orders)) {
		old := g.mirror.orders[id]
		if !seen[id] && old.gen <= gen0 && old.v.IsActive() {
			o := old.v
			o.Status = engine.StatusCancelled
			o.Reason = "the server no longer knows this order (it restarted)"
			g.mirror.orders[id] = entry[engine.Order]{o, gen0}
			out = append(out, engine.Event{Type: engine.EventOrder, Data: &o})
		}
	}
	g.mu.Unlock()
	flush()

	trades, err := query[engine.Trade](g, wire.MethodGetAllTrades)
	if !step("trades", len(trades), err) {
		return
	}
	g.mu.Lock()
	for _, t := range trades {
		localize(t, g.Name())
		if apply(g.mirror.trades, t.VtTradeID(), *t, gen0) {
			out = append(out, engine.Event{Type: engine.EventTrade, Data: t})
		}
	}
	g.mu.Unlock()
	flush()

	active, err := query[engine.Order](g, wire.MethodGetAllActiveOrders)
	if !step("active orders", len(active), err) {
		return
	}
	g.mu.Lock()
	for _, o := range active {
		localize(o, g.Name())
		if apply(g.mirror.orders, o.VtOrderID(), *o, gen0) {
			out = append(out, engine.Event{Type: engine.EventOrder, Data: o})
		}
	}
	subs := slices.Sorted(maps.Keys(g.subs))
	g.mu.Unlock()
	flush()

	for _, vt := range subs {
		args, err := wire.EncodeArgs(vt)
		if err != nil {
			continue
		}
		res, err := g.call(wire.MethodGetTick, args)
		if err != nil {
			step("tick "+vt, 0, err)
			return
		}
		t, err := wire.DecodeOne[engine.Tick](res)
		if err != nil || t == nil {
			continue
		}
		localize(t, g.Name())
		g.mu.Lock()
		if e := g.mirror.tickSlot(t); e.gen <= gen0 && *e.v != *t {
			*e = entry[*engine.Tick]{t, gen0}
			out = append(out, engine.Event{Type: engine.EventTick, Data: t})
		}
		g.mu.Unlock()
	}
	flush()

	if reason == "connect" {
		g.WriteLog(fmt.Sprintf("initial queries done in %v", time.Since(start).Round(time.Millisecond)))
	} else {
		g.state(State{State: "resynced", Transport: g.Transport(),
			Reason: fmt.Sprintf("%s; %d objects changed, %v", reason, changed, time.Since(start).Round(time.Millisecond))})
	}
}

// tickSlot returns where the last tick of t's symbol is recorded, made
// if there is none. A stream of one symbol's ticks hashes nothing: the
// last slot is kept, and the decoder reuses the symbol's string, so the
// comparison is of equal pointers. The caller holds g.mu.
func (m *mirror) tickSlot(t *engine.Tick) *entry[*engine.Tick] {
	if e := m.lastTick; e != nil && e.v.Symbol == t.Symbol && e.v.Exchange == t.Exchange {
		return e
	}
	key := engine.SubscribeRequest{Symbol: t.Symbol, Exchange: t.Exchange}
	e := m.ticks[key]
	if e == nil {
		e = &entry[*engine.Tick]{v: &engine.Tick{Symbol: t.Symbol, Exchange: t.Exchange}}
		m.ticks[key] = e
	}
	m.lastTick = e
	return e
}

// apply records v under key unless what is recorded is newer than the
// snapshot (pushed after gen0) or equal; true: emit v.
func apply[K, T comparable](m map[K]entry[T], key K, v T, gen0 uint64) bool {
	old, ok := m[key]
	if ok && (old.gen > gen0 || old.v == v) {
		return false
	}
	m[key] = entry[T]{v, gen0}
	return true
}

// query calls a get_all_* method.
func query[T any](g *Gateway, method string) ([]*T, error) {
	args, _ := wire.EncodeArgs()
	res, err := g.call(method, args)
	if err != nil {
		return nil, err
	}
	return wire.DecodeList[T](res)
}

// resubscribe renews the subscriptions on a (possibly restarted) server.
func (g *Gateway) resubscribe() {
	g.mu.Lock()
	reqs := slices.Collect(maps.Values(g.subs))
	g.mu.Unlock()
	for _, req := range reqs {
		if err := g.Subscribe(req); err != nil {
			g.WriteLogLevel(engine.LogWarning, fmt.Sprintf("subscribe %s again: %v", req.VtSymbol(), err))
		}
	}
}
