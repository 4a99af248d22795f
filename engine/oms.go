package engine

import "sync"

// ordered keeps the latest value per key and remembers the order in which
// keys first arrived (vn.py's dicts do, and get_all_* returns that order).
// Deleted keys leave a hole that is compacted once holes outnumber values.
type ordered[V any] struct {
	idx   map[string]int
	keys  []string
	vals  []V
	holes int
}

func newOrdered[V any]() *ordered[V] { return &ordered[V]{idx: map[string]int{}} }

func (m *ordered[V]) set(k string, v V) {
	if i, ok := m.idx[k]; ok {
		m.vals[i] = v
		return
	}
	m.idx[k] = len(m.keys)
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
}

// setBytes is set with the key in a reused buffer: the lookup of a key
// already present allocates nothing (the compiler does not copy a
// string(bytes) map index), and only a new key is made a string. It
// returns the value's index in vals.
func (m *ordered[V]) setBytes(k []byte, v V) int {
	if i, ok := m.idx[string(k)]; ok {
		m.vals[i] = v
		return i
	}
	m.set(string(k), v)
	return len(m.vals) - 1
}

func (m *ordered[V]) get(k string) (V, bool) {
	i, ok := m.idx[k]
	if !ok {
		var zero V
		return zero, false
	}
	return m.vals[i], true
}

func (m *ordered[V]) del(k string) {
	i, ok := m.idx[k]
	if !ok {
		return
	}
	delete(m.idx, k)
	m.keys[i] = ""
	var zero V
	m.vals[i] = zero
	m.holes++
	if m.holes > 16 && m.holes > len(m.idx) {
		m.compact()
	}
}

func (m *ordered[V]) compact() {
	keys, vals := m.keys[:0], m.vals[:0]
	for i, k := range m.keys {
		if _, ok := m.idx[k]; ok && k != "" {
			m.idx[k] = len(keys)
			keys = append(keys, k)
			vals = append(vals, m.vals[i])
		}
	}
	clear(m.keys[len(keys):])
	clear(m.vals[len(vals):])
	m.keys, m.vals, m.holes = keys, vals, 0
}

func (m *ordered[V]) all() []V {
	out := make([]V, 0, len(m.idx))
	for i, k := range m.keys {
		if k != "" {
			out = append(out, m.vals[i])
		}
	}
	return out
}

func (m *ordered[V]) len() int { return len(m.idx) }

// oms keeps the latest state of every object the gateways report, like
// vn.py's OmsEngine: ticks by vt_symbol, orders by vt_orderid, trades by
// vt_tradeid, positions by vt_positionid, accounts by vt_accountid,
// contracts by vt_symbol, quotes by vt_quoteid, and the active orders and
// quotes. It is updated on the event engine's dispatcher; its getters
// (MainEngine's Tick, AllOrders …) are safe from any goroutine and return
// the stored objects, which are read-only.
type oms struct {
	mu           sync.RWMutex
	ticks        *ordered[*Tick]
	orders       *ordered[*Order]
	trades       *ordered[*Trade]
	positions    *ordered[*Position]
	accounts     *ordered[*Account]
	contracts    *ordered[*Contract]
	quotes       *ordered[*Quote]
	activeOrders *ordered[*Order]
	activeQuotes *ordered[*Quote]
	vt           []byte // a tick's vt_symbol, built here rather than allocated per tick
	lastTick     int    // where in ticks.vals the last tick went
}

func newOMS() *oms {
	return &oms{ticks: newOrdered[*Tick](), orders: newOrdered[*Order](), trades: newOrdered[*Trade](),
		positions: newOrdered[*Position](), accounts: newOrdered[*Account](), contracts: newOrdered[*Contract](),
		quotes: newOrdered[*Quote](), activeOrders: newOrdered[*Order](), activeQuotes: newOrdered[*Quote]()}
}

// register subscribes the OMS to what it records. Ticks are taken by a
// tap, inside Put: a tick costs the OMS no trip through the dispatcher's
// queue (with no queued handler for ticks, a tick is not queued at all),
// and Tick returns the last tick put, which is never older than the one a
// queued handler is seeing. The rest goes through the queue, in order
// with the handlers, as in vn.py.
func (o *oms) register(ev *EventEngine) []func() {
	return []func(){
		ev.RegisterTap(EventTick, o.onEvent),
		ev.Register(EventOrder, o.onEvent),
		ev.Register(EventTrade, o.onEvent),
		ev.Register(EventPosition, o.onEvent),
		ev.Register(EventAccount, o.onEvent),
		ev.Register(EventContract, o.onEvent),
		ev.Register(EventQuote, o.onEvent),
	}
}

func (o *oms) onEvent(e Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch d := e.Data.(type) {
	case *Tick:
		// A stream of one symbol's ticks replaces the last one in place:
		// a tick of the same symbol and exchange there has the same key.
		if i := o.lastTick; i < len(o.ticks.vals) {
			if p := o.ticks.vals[i]; p != nil && p.Symbol == d.Symbol && p.Exchange == d.Exchange {
				o.ticks.vals[i] = d
				return
			}
		}
		o.vt = AppendVtSymbol(o.vt[:0], d.Symbol, d.Exchange)
		o.lastTick = o.ticks.setBytes(o.vt, d)
	case *Order:
		k := d.VtOrderID()
		o.orders.set(k, d)
		if d.IsActive() {
			o.activeOrders.set(k, d)
		} else {
			o.activeOrders.del(k)
		}
	case *Trade:
		o.trades.set(d.VtTradeID(), d)
	case *Position:
		o.positions.set(d.VtPositionID(), d)
	case *Account:
		o.accounts.set(d.VtAccountID(), d)
	case *Contract:
		o.contracts.set(d.VtSymbol(), d)
	case *Quote:
		k := d.VtQuoteID()
		o.quotes.set(k, d)
		if d.IsActive() {
			o.activeQuotes.set(k, d)
		} else {
			o.activeQuotes.del(k)
		}
	}
}

func get[V any](o *oms, m *ordered[V], k string) (V, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return m.get(k)
}

func all[V any](o *oms, m *ordered[V]) []V {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return m.all()
}

// The OMS's getters, vn.py's MainEngine.get_* functions.

// Tick returns the last tick of a vt_symbol.
func (m *MainEngine) Tick(vtSymbol string) (*Tick, bool) { return get(m.oms, m.oms.ticks, vtSymbol) }

// Order returns the latest state of an order by vt_orderid.
func (m *MainEngine) Order(vtOrderID string) (*Order, bool) {
	return get(m.oms, m.oms.orders, vtOrderID)
}

// Trade returns a trade by vt_tradeid.
func (m *MainEngine) Trade(vtTradeID string) (*Trade, bool) {
	return get(m.oms, m.oms.trades, vtTradeID)
}

// Position returns a position by vt_positionid.
func (m *MainEngine) Position(vtPositionID string) (*Position, bool) {
	return get(m.oms, m.oms.positions, vtPositionID)
}

// Account returns an account by vt_accountid.
func (m *MainEngine) Account(vtAccountID string) (*Account, bool) {
	return get(m.oms, m.oms.accounts, vtAccountID)
}

// Contract returns a contract by vt_symbol.
func (m *MainEngine) Contract(vtSymbol string) (*Contract, bool) {
	return get(m.oms, m.oms.contracts, vtSymbol)
}

// Quote returns a quote by vt_quoteid.
func (m *MainEngine) Quote(vtQuoteID string) (*Quote, bool) {
	return get(m.oms, m.oms.quotes, vtQuoteID)
}

// AllTicks and the other All functions list every object of a kind, in
// the order each key was first reported.
func (m *MainEngine) AllTicks() []*Tick         { return all(m.oms, m.oms.ticks) }
func (m *MainEngine) AllOrders() []*Order       { return all(m.oms, m.oms.orders) }
func (m *MainEngine) AllTrades() []*Trade       { return all(m.oms, m.oms.trades) }
func (m *MainEngine) AllPositions() []*Position { return all(m.oms, m.oms.positions) }
func (m *MainEngine) AllAccounts() []*Account   { return all(m.oms, m.oms.accounts) }
func (m *MainEngine) AllContracts() []*Contract { return all(m.oms, m.oms.contracts) }
func (m *MainEngine) AllQuotes() []*Quote       { return all(m.oms, m.oms.quotes) }
func (m *MainEngine) AllActiveOrders() []*Order { return all(m.oms, m.oms.activeOrders) }
func (m *MainEngine) AllActiveQuotes() []*Quote { return all(m.oms, m.oms.activeQuotes) }

// Counts returns how many objects of each kind the OMS holds.
func (m *MainEngine) Counts() OMSCounts {
	o := m.oms
	o.mu.RLock()
	defer o.mu.RUnlock()
	return OMSCounts{Ticks: o.ticks.len(), Orders: o.orders.len(), ActiveOrders: o.activeOrders.len(),
		Trades: o.trades.len(), Positions: o.positions.len(), Accounts: o.accounts.len(),
		Contracts: o.contracts.len(), Quotes: o.quotes.len()}
}

// OMSCounts is a summary of the OMS's contents.
type OMSCounts struct {
	Ticks, Orders, ActiveOrders, Trades, Positions, Accounts, Contracts, Quotes int
}
