package rpcgateway

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// entry is the last state of one object this gateway emitted, with the
// local event count when it was set.
type entry[T any] struct {
	v   T
	gen uint64
}

// mirrored is one kind of object the gateway mirrors: objects the server
// pushes are recorded and emitted (onEvent); a resync queries them all
// and emits what differs from the mirror (sync).
type mirrored interface {
	onEvent(g *Gateway, v any, gen uint64)
	sync(g *Gateway, gen0 uint64) (queried, changed int, err error)
	name() string
}

// kind is the one table entry of a mirrored kind of object: everything
// that differs between orders, trades, positions, accounts, contracts and
// quotes. g.mu guards its map.
type kind[T comparable] struct {
	what   string // for logs: "contracts"
	method string // the get_all_* query a resync makes
	// m is the mirror by this gateway's ids; kinds of the same objects
	// (orders, active orders) share it.
	m    map[string]entry[T]
	key  func(*T) string
	emit func(g *Gateway, v *T)
	// localize renames a server object to this gateway (see localize).
	localize func(v *T, gateway string)
	// seen, if set, sees each object from the server before it is
	// renamed (contracts: the symbol map follows them).
	seen func(g *Gateway, v *T)
	// gone, if set, is what an object emitted before a resync becomes
	// when the server's answer lacks it (the server restarted): a
	// position goes flat, an active order is cancelled; false: nothing
	// to emit.
	gone func(old T) (T, bool)
}

func (k *kind[T]) name() string { return k.what }

func (k *kind[T]) onEvent(g *Gateway, v any, gen uint64) {
	d := v.(*T)
	g.mu.Lock()
	if k.seen != nil {
		k.seen(g, d)
	}
	k.localize(d, g.Name())
	k.m[k.key(d)] = entry[T]{*d, gen}
	g.mu.Unlock()
	k.emit(g, d)
}

// sync queries every object of the kind, records what differs from the
// mirror and emits it. An object pushed since the resync began (gen
// above gen0) is newer than the answer and is kept.
func (k *kind[T]) sync(g *Gateway, gen0 uint64) (queried, changed int, err error) {
	args, _ := wire.EncodeArgs()
	res, err := g.call(k.method, args)
	if err != nil {
		return 0, 0, err
	}
	items, err := wire.DecodeList[T](res)
	if err != nil {
		return 0, 0, err
	}
	var out []*T
	present := map[string]bool{}
	g.mu.Lock()
	for _, v := range items {
		if k.seen != nil {
			k.seen(g, v)
		}
		k.localize(v, g.Name())
		id := k.key(v)
		present[id] = true
		if old, ok := k.m[id]; !ok || old.gen <= gen0 && old.v != *v {
			k.m[id] = entry[T]{*v, gen0}
			out = append(out, v)
		}
	}
	if k.gone != nil {
		for _, id := range slices.Sorted(maps.Keys(k.m)) {
			if old := k.m[id]; !present[id] && old.gen <= gen0 {
				if v, ok := k.gone(old.v); ok {
					k.m[id] = entry[T]{v, gen0}
					out = append(out, &v)
				}
			}
		}
	}
	g.mu.Unlock()
	for _, v := range out {
		k.emit(g, v)
	}
	return len(items), len(out), nil
}

// mirror is what the gateway has emitted, by this gateway's ids: a resync
// compares the server's state with it and emits only the differences.
type mirror struct {
	// kinds are the mirrored kinds in the order a resync queries them:
	// vn.py's (contracts, accounts, positions, orders, trades), then
	// quotes and the active orders.
	kinds []mirrored
	// byType finds the kind of a pushed record.
	byType map[uint32]mirrored
	// ticks by symbol and exchange (no vt_symbol built per tick): the tick
	// emitted, shared with the handlers (events are read-only once put).
	ticks    map[engine.SubscribeRequest]*entry[*engine.Tick]
	lastTick *entry[*engine.Tick] // the slot of the last tick received
}

func newMirror() mirror {
	orders := map[string]entry[engine.Order]{}
	contracts := &kind[engine.Contract]{what: "contracts", method: wire.MethodGetAllContracts, m: map[string]entry[engine.Contract]{},
		key: (*engine.Contract).VtSymbol, emit: func(g *Gateway, v *engine.Contract) { g.OnContract(v) },
		localize: func(v *engine.Contract, gw string) { v.GatewayName = gw },
		seen:     func(g *Gateway, v *engine.Contract) { g.symbols[v.VtSymbol()] = v.GatewayName }}
	accounts := &kind[engine.Account]{what: "accounts", method: wire.MethodGetAllAccounts, m: map[string]entry[engine.Account]{},
		key: (*engine.Account).VtAccountID, emit: func(g *Gateway, v *engine.Account) { g.OnAccount(v) },
		localize: func(v *engine.Account, gw string) { v.AccountID, v.GatewayName = v.GatewayName+"."+v.AccountID, gw }}
	positions := &kind[engine.Position]{what: "positions", method: wire.MethodGetAllPositions, m: map[string]entry[engine.Position]{},
		key: (*engine.Position).VtPositionID, emit: func(g *Gateway, v *engine.Position) { g.OnPosition(v) },
		localize: func(v *engine.Position, gw string) { v.GatewayName = gw },
		gone: func(p engine.Position) (engine.Position, bool) {
			if p.Volume == 0 && p.Frozen == 0 && p.YdVolume == 0 {
				return p, false
			}
			p.Volume, p.Frozen, p.YdVolume, p.Pnl = 0, 0, 0, 0
			return p, true
		}}
	localizeOrder := func(v *engine.Order, gw string) { v.OrderID, v.GatewayName = v.GatewayName+"."+v.OrderID, gw }
	emitOrder := func(g *Gateway, v *engine.Order) { g.OnOrder(v) }
	allOrders := &kind[engine.Order]{what: "orders", method: wire.MethodGetAllOrders, m: orders,
		key: (*engine.Order).VtOrderID, emit: emitOrder, localize: localizeOrder,
		gone: func(o engine.Order) (engine.Order, bool) {
			if !o.IsActive() {
				return o, false
			}
			o.Status, o.Reason = engine.StatusCancelled, "the server no longer knows this order (it restarted)"
			return o, true
		}}
	trades := &kind[engine.Trade]{what: "trades", method: wire.MethodGetAllTrades, m: map[string]entry[engine.Trade]{},
		key: (*engine.Trade).VtTradeID, emit: func(g *Gateway, v *engine.Trade) { g.OnTrade(v) },
		localize: func(v *engine.Trade, gw string) {
			v.OrderID, v.TradeID, v.GatewayName = v.GatewayName+"."+v.OrderID, v.GatewayName+"."+v.TradeID, gw
		}}
	quotes := &kind[engine.Quote]{what: "quotes", method: wire.MethodGetAllQuotes, m: map[string]entry[engine.Quote]{},
		key: (*engine.Quote).VtQuoteID, emit: func(g *Gateway, v *engine.Quote) { g.OnQuote(v) },
		localize: func(v *engine.Quote, gw string) { v.QuoteID, v.GatewayName = v.GatewayName+"."+v.QuoteID, gw },
		gone: func(q engine.Quote) (engine.Quote, bool) {
			if !q.IsActive() {
				return q, false
			}
			q.Status = engine.StatusCancelled
			return q, true
		}}
	active := &kind[engine.Order]{what: "active orders", method: wire.MethodGetAllActiveOrders, m: orders,
		key: (*engine.Order).VtOrderID, emit: emitOrder, localize: localizeOrder}
	return mirror{
		kinds: []mirrored{contracts, accounts, positions, allOrders, trades, quotes, active},
		byType: map[uint32]mirrored{wire.TypeContract: contracts, wire.TypeAccount: accounts, wire.TypePosition: positions,
			wire.TypeOrder: allOrders, wire.TypeTrade: trades, wire.TypeQuote: quotes},
		ticks: map[engine.SubscribeRequest]*entry[*engine.Tick]{},
	}
}

// onEvent receives each published record, in order, on the client's event
// goroutine: it renames the object to this gateway (localize), records it
// and emits it as the gateway's own event.
//
// The ids a server's gateways assign on their own (order, trade, quote and
// account ids) get the server gateway's name in front, so that objects of
// two server gateways never collide under this one name: the server's
// order SIM.7 is RPC.SIM.7 here (its OrderID is "SIM.7"). Logs appear
// from this gateway, as in vn.py.
func (g *Gateway) onEvent(ev rpc.Event) {
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
	if k := g.mirror.byType[ev.Type]; k != nil {
		k.onEvent(g, e.Data, gen)
		return
	}
	if l, ok := e.Data.(*engine.Log); ok {
		l.GatewayName = name
		if e.Type == engine.EventLog {
			g.OnLog(l)
			return
		}
	}
	g.EventEngine().Put(e) // the RPC service's log, another app's event
}

// sync queries the server's state, kind by kind in the mirror's order,
// then the ticks of subscribed symbols, and emits what differs from what
// this gateway has emitted. After a reconnect or a new epoch it first
// subscribes again. A query that fails is reported and tried again with
// backoff (100 ms doubling to 5 s) until it succeeds or the gateway
// closes: the resync never stops half done.
func (g *Gateway) sync(reason string) {
	start := time.Now()
	initial := reason == "connect"
	if !initial {
		tr, _ := g.Transport()
		g.state(State{State: "resyncing", Transport: tr, Reason: reason})
		if reason == "new epoch" || reason == "reconnect" {
			g.resubscribe()
		}
	}
	gen0 := g.gen.Load()
	changed := 0
	for _, k := range g.mirror.kinds {
		var n, c int
		if !g.retry(k.name(), func() (err error) { n, c, err = k.sync(g, gen0); return err }) {
			return
		}
		if initial {
			g.WriteLog(fmt.Sprintf("%s queried (%d)", k.name(), n))
		}
		changed += c
	}
	var n int
	if !g.retry("ticks", func() (err error) { n, err = g.syncTicks(gen0); return err }) {
		return
	}
	changed += n
	if initial {
		g.WriteLog(fmt.Sprintf("initial queries done in %v", time.Since(start).Round(time.Millisecond)))
	} else {
		tr, _ := g.Transport()
		g.state(State{State: "resynced", Transport: tr,
			Reason: fmt.Sprintf("%s; %d objects changed, %v", reason, changed, time.Since(start).Round(time.Millisecond))})
	}
}

// retry runs query until it succeeds (true) or the gateway closes
// (false), reporting each failure with the time to the next try.
func (g *Gateway) retry(what string, query func() error) bool {
	backoff := 100 * time.Millisecond
	for {
		err := query()
		if err == nil {
			return true
		}
		if g.ctx.Err() != nil {
			return false
		}
		g.WriteLogLevel(engine.LogWarning, fmt.Sprintf("query %s failed: %v; trying again in %v", what, err, backoff))
		select {
		case <-g.ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// syncTicks queries the last tick of each subscribed symbol and emits
// those that differ from the mirror's; it returns how many it emitted.
func (g *Gateway) syncTicks(gen0 uint64) (int, error) {
	g.mu.Lock()
	subs := slices.Sorted(maps.Keys(g.subs))
	g.mu.Unlock()
	changed := 0
	for _, vt := range subs {
		args, err := wire.EncodeArgs(vt)
		if err != nil {
			continue
		}
		res, err := g.call(wire.MethodGetTick, args)
		if err != nil {
			return changed, fmt.Errorf("%s: %w", vt, err)
		}
		t, err := wire.DecodeOne[engine.Tick](res)
		if err != nil || t == nil {
			continue
		}
		t.GatewayName = g.Name()
		g.mu.Lock()
		e := g.mirror.tickSlot(t)
		emit := e.gen <= gen0 && *e.v != *t
		if emit {
			*e = entry[*engine.Tick]{t, gen0}
		}
		g.mu.Unlock()
		if emit {
			g.OnTick(t)
			changed++
		}
	}
	return changed, nil
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
