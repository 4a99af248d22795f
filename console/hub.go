package console

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

// Bounds on what a tab is sent at connect: the newest rows of the
// append-only tables (every active order is sent too).
const (
	keepLogs       = 500
	snapshotOrders = 500
	snapshotTrades = 500
)

// table keeps the latest object per key in first-seen order, and which
// keys changed since the last frame.
type table[V any] struct {
	byKey map[string]*row[V]
	order []string
	dirty map[string]struct{}
}

type row[V any] struct {
	v   V
	idx int // first-seen position
}

func newTable[V any]() *table[V] {
	return &table[V]{byKey: map[string]*row[V]{}, dirty: map[string]struct{}{}}
}

func (t *table[V]) put(k string, v V) {
	if r, ok := t.byKey[k]; ok {
		r.v = v
	} else {
		t.byKey[k] = &row[V]{v, len(t.order)}
		t.order = append(t.order, k)
	}
	t.dirty[k] = struct{}{}
}

// changed returns the views of the rows changed since the last call, in
// first-seen order.
func (t *table[V]) changed(view func(V) any) []any {
	if len(t.dirty) == 0 {
		return nil
	}
	rows := make([]*row[V], 0, len(t.dirty))
	for k := range t.dirty {
		rows = append(rows, t.byKey[k])
	}
	clear(t.dirty)
	slices.SortFunc(rows, func(a, b *row[V]) int { return a.idx - b.idx })
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = view(r.v)
	}
	return out
}

// last returns the views of the newest n rows (all if n <= 0), plus
// every older row that keep selects, in first-seen order.
func (t *table[V]) last(n int, view func(V) any, keep func(V) bool) []any {
	from := 0
	if n > 0 && len(t.order) > n {
		from = len(t.order) - n
	}
	var out []any
	for i, k := range t.order {
		v := t.byKey[k].v
		if i >= from || keep != nil && keep(v) {
			out = append(out, view(v))
		}
	}
	return out
}

// hub follows the engine's events and sends every tab a snapshot, then a
// frame of what changed every interval.
type hub struct {
	me       *engine.MainEngine
	interval time.Duration
	log      *slog.Logger
	unreg    func()

	mu        sync.Mutex
	ticks     *table[*engine.Tick]
	orders    *table[*engine.Order]
	trades    *table[*engine.Trade]
	positions *table[*engine.Position]
	accounts  *table[*engine.Account]
	contracts *table[*engine.Contract]
	logs      []logView // the newest keepLogs
	newLogs   int       // logs since the last frame (at the end of logs)
	logSeq    uint64
	states    map[string]*rpcgateway.State // RPC gateways' connection state
	connected map[string]bool              // gateways seen to be connected
	settings  map[string]engine.Setting
	statusDue bool // the service or a gateway changed: send their status in the next frame
	sessions  map[*session]struct{}
	lastStat  []byte // the status last sent, to send it only when it changed
}

func newHub(me *engine.MainEngine, interval time.Duration, settings map[string]engine.Setting, log *slog.Logger) *hub {
	h := &hub{me: me, interval: interval, log: log,
		ticks: newTable[*engine.Tick](), orders: newTable[*engine.Order](), trades: newTable[*engine.Trade](),
		positions: newTable[*engine.Position](), accounts: newTable[*engine.Account](),
		contracts: newTable[*engine.Contract](), states: map[string]*rpcgateway.State{},
		connected: map[string]bool{}, settings: map[string]engine.Setting{}, sessions: map[*session]struct{}{}}
	for k, v := range settings {
		h.settings[k] = v
	}
	// Follow the events first, then add what happened before the console
	// started (the engine's current state): an event in between is then
	// seen at least once. Rows are upserts, so seeing one twice is harmless.
	h.unreg = me.EventEngine().RegisterGeneral(h.onEvent)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range me.AllContracts() {
		h.contracts.put(c.VtSymbol(), c)
		h.connected[c.GatewayName] = true
	}
	for _, t := range me.AllTicks() {
		h.ticks.put(t.VtSymbol(), t)
	}
	for _, o := range me.AllOrders() {
		h.orders.put(o.VtOrderID(), o)
	}
	for _, t := range me.AllTrades() {
		h.trades.put(t.VtTradeID(), t)
	}
	for _, p := range me.AllPositions() {
		h.positions.put(p.VtPositionID(), p)
	}
	for _, a := range me.AllAccounts() {
		h.accounts.put(a.VtAccountID(), a)
	}
	return h
}

func (h *hub) close() { h.unreg() }

// onEvent runs on the event engine's dispatcher: it only records.
func (h *hub) onEvent(e engine.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch d := e.Data.(type) {
	case *engine.Tick:
		h.ticks.put(d.VtSymbol(), d)
	case *engine.Order:
		h.orders.put(d.VtOrderID(), d)
	case *engine.Trade:
		h.trades.put(d.VtTradeID(), d)
	case *engine.Position:
		h.positions.put(d.VtPositionID(), d)
	case *engine.Account:
		h.accounts.put(d.VtAccountID(), d)
	case *engine.Contract:
		h.contracts.put(d.VtSymbol(), d)
		if !h.connected[d.GatewayName] {
			h.connected[d.GatewayName] = true
			h.statusDue = true
		}
	case *rpcgateway.State:
		s := *d
		h.states[d.Gateway] = &s
		h.statusDue = true
	case *engine.Log:
		kind := "log"
		if e.Type == rpcservice.EventRpcLog {
			kind = "rpc"
			h.statusDue = true // a start or stop: the panel follows at once
		}
		h.logSeq++
		h.logs = append(h.logs, logView{Seq: h.logSeq, Time: d.Time.UnixMilli(), Msg: d.Msg, Level: d.Level,
			Source: d.GatewayName, Kind: kind})
		h.newLogs++
		if len(h.logs) > 2*keepLogs {
			h.logs = append(h.logs[:0], h.logs[len(h.logs)-keepLogs:]...)
		}
	}
}

// connectedWith records a gateway connected from the console, and the
// settings it was given (they prefill its form from then on).
func (h *hub) connectedWith(gw string, s engine.Setting, reportsState bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settings[gw] = s
	switch {
	case !reportsState:
		h.connected[gw] = true
	case h.states[gw] == nil: // its own state events follow
		h.states[gw] = &rpcgateway.State{Gateway: gw, State: "connecting", Time: time.Now()}
	}
	h.statusDue = true
}

func (h *hub) run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	every := max(1, int(time.Second/h.interval)) // status (clients, lag) refresh: once a second
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.flush(n%every == 0)
	}
}

// frame is one update: the rows that changed, new logs, and the status
// when it changed.
type frame struct {
	T         string  `json:"t"`
	Ticks     []any   `json:"ticks,omitempty"`
	Orders    []any   `json:"orders,omitempty"`
	Trades    []any   `json:"trades,omitempty"`
	Positions []any   `json:"positions,omitempty"`
	Accounts  []any   `json:"accounts,omitempty"`
	Contracts []any   `json:"contracts,omitempty"`
	Logs      []any   `json:"logs,omitempty"`
	Status    *status `json:"status,omitempty"`
}

func (f *frame) empty() bool {
	return len(f.Ticks)+len(f.Orders)+len(f.Trades)+len(f.Positions)+len(f.Accounts)+len(f.Contracts)+len(f.Logs) == 0 &&
		f.Status == nil
}

func (h *hub) flush(periodic bool) {
	h.mu.Lock()
	due := h.statusDue || periodic
	h.statusDue = false
	h.mu.Unlock()
	var st *status
	var stb []byte
	if due {
		st = h.status() // outside h.mu: it asks the service and the gateways
		stb, _ = json.Marshal(st)
	}

	h.mu.Lock()
	f := frame{T: "frame", Ticks: h.ticks.changed(tickRow), Orders: h.orders.changed(orderRow),
		Trades: h.trades.changed(tradeRow), Positions: h.positions.changed(positionRow),
		Accounts: h.accounts.changed(accountRow), Contracts: h.contracts.changed(contractRow)}
	if h.newLogs > 0 {
		for _, l := range h.logs[len(h.logs)-min(h.newLogs, len(h.logs)):] {
			f.Logs = append(f.Logs, l)
		}
		h.newLogs = 0
	}
	if st != nil && string(stb) != string(h.lastStat) {
		f.Status, h.lastStat = st, stb
	}
	if len(h.sessions) == 0 || f.empty() {
		h.mu.Unlock()
		return
	}
	to := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		to = append(to, s)
	}
	h.mu.Unlock()
	// Encoded off the lock, so that the event dispatcher never waits for
	// it. A tab that attached meanwhile is not in to, and its snapshot
	// already has these rows; frames stay in order (one flusher).
	b, err := json.Marshal(&f)
	if err != nil {
		h.log.Error("console: encode frame", "err", err)
		return
	}
	for _, s := range to {
		s.send(b)
	}
}

// attach registers s and returns its first message: everything the
// console shows, consistent with the frames s gets from then on.
func (h *hub) attach(s *session, hello hello) ([]byte, error) {
	st := h.status()
	h.mu.Lock()
	defer h.mu.Unlock()
	hello.T = "hello"
	hello.Snapshot = frame{T: "snapshot",
		Ticks:     h.ticks.last(0, tickRow, nil),
		Orders:    h.orders.last(snapshotOrders, orderRow, func(o *engine.Order) bool { return o.IsActive() }),
		Trades:    h.trades.last(snapshotTrades, tradeRow, nil),
		Positions: h.positions.last(0, positionRow, nil),
		Accounts:  h.accounts.last(0, accountRow, nil),
		Contracts: h.contracts.last(0, contractRow, nil),
		Status:    st,
	}
	for _, l := range h.logs[max(0, len(h.logs)-keepLogs):] {
		hello.Snapshot.Logs = append(hello.Snapshot.Logs, l)
	}
	b, err := json.Marshal(&hello)
	if err != nil {
		return nil, err
	}
	h.sessions[s] = struct{}{}
	return b, nil
}

func (h *hub) detach(s *session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
}

// status is the RPC service's and the gateways' state.
type status struct {
	Service  *serviceView  `json:"service,omitempty"`
	Gateways []gatewayView `json:"gateways"`
}

type serviceView struct {
	Running bool               `json:"running"`
	Setting rpcservice.Setting `json:"setting"`
	Socket  string             `json:"socket"`
	Calls   string             `json:"calls"`
	Events  string             `json:"events"`
	Clients []clientView       `json:"clients"`
}

type clientView struct {
	ID        string        `json:"id"`
	PID       int           `json:"pid"`
	Transport rpc.Transport `json:"transport"`
	Since     int64         `json:"since"` // unix ms
	Calls     uint64        `json:"calls"`
	Errors    uint64        `json:"errors"`
	Lag       uint64        `json:"lag"`
	Laps      uint64        `json:"laps"`
	Lost      uint64        `json:"lost"`
}

type gatewayView struct {
	Name      string         `json:"name"`
	Kind      string         `json:"kind"`                // "rpc" for the RPC gateway
	State     string         `json:"state"`               // idle, connecting, connected, disconnected, resyncing, resynced
	Transport rpc.Transport  `json:"transport,omitempty"` // omitted while not connected
	Reason    string         `json:"reason,omitempty"`
	Epoch     uint64         `json:"epoch,omitempty"`
	Lag       uint64         `json:"lag"`
	Laps      uint64         `json:"laps"`
	Lost      uint64         `json:"lost"`
	Setting   engine.Setting `json:"setting"`
}

func (h *hub) service() *rpcservice.Engine {
	app, ok := h.me.App(rpcservice.AppName)
	if !ok {
		return nil
	}
	svc, _ := app.(*rpcservice.Engine)
	return svc
}

func (h *hub) status() *status {
	st := &status{Gateways: []gatewayView{}}
	if svc := h.service(); svc != nil {
		v := &serviceView{Setting: svc.Setting(), Clients: []clientView{}}
		if srv := svc.Server(); srv != nil {
			v.Running = true
			v.Socket, v.Calls, v.Events = srv.Addrs()
			for _, c := range srv.Stats() {
				v.Clients = append(v.Clients, clientView{ID: c.ID, PID: c.PID, Transport: c.Transport,
					Since: c.Since.UnixMilli(), Calls: c.Calls, Errors: c.Errors, Lag: c.Lag, Laps: c.Laps, Lost: c.Lost})
			}
		}
		st.Service = v
	}
	for _, name := range h.me.GatewayNames() {
		gw, err := h.me.Gateway(name)
		if err != nil {
			continue
		}
		v := gatewayView{Name: name, Kind: "gateway", State: "idle", Setting: gw.DefaultSetting()}
		r, isRPC := gw.(*rpcgateway.Gateway)
		h.mu.Lock()
		for k, val := range h.settings[name] {
			v.Setting[k] = val
		}
		// The RPC gateway reports its state (eRpcState); another gateway
		// counts as connected once connected from here or seen listing
		// contracts.
		if s := h.states[name]; s != nil {
			v.State, v.Transport, v.Reason, v.Epoch = s.State, s.Transport, s.Reason, s.Epoch
		} else if h.connected[name] && !isRPC {
			v.State = "connected"
		}
		h.mu.Unlock()
		if isRPC {
			v.Kind = "rpc"
			if c := r.Client(); c != nil {
				cs := c.Status()
				v.Lag, v.Laps, v.Lost = cs.Lag, cs.Laps, cs.Lost
			}
		}
		st.Gateways = append(st.Gateways, v)
	}
	return st
}

// Rows as the page gets them: enums as codes (the page shows their zh or
// en names), times as unix milliseconds.

type logView struct {
	Seq    uint64 `json:"seq"`
	Time   int64  `json:"time"`
	Msg    string `json:"msg"`
	Level  int    `json:"level"`
	Source string `json:"source"`
	Kind   string `json:"kind"` // "log" (eLog) or "rpc" (eRpcLog)
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func tickRow(t *engine.Tick) any {
	return map[string]any{"vt_symbol": t.VtSymbol(), "symbol": t.Symbol, "exchange": t.Exchange.String(),
		"name": t.Name, "last_price": t.LastPrice, "volume": t.Volume, "open_interest": t.OpenInterest,
		"bid_price_1": t.BidPrice[0], "bid_volume_1": t.BidVolume[0], "ask_price_1": t.AskPrice[0],
		"ask_volume_1": t.AskVolume[0], "open_price": t.OpenPrice, "high_price": t.HighPrice, "low_price": t.LowPrice,
		"limit_up": t.LimitUp, "limit_down": t.LimitDown, "time": ms(t.Datetime), "gateway_name": t.GatewayName}
}

func orderRow(o *engine.Order) any {
	return map[string]any{"vt_orderid": o.VtOrderID(), "vt_symbol": o.VtSymbol(), "symbol": o.Symbol,
		"exchange": o.Exchange.String(), "type": o.Type.String(), "direction": o.Direction.String(),
		"offset": o.Offset.String(), "price": o.Price, "volume": o.Volume, "traded": o.Traded,
		"status": o.Status.String(), "active": o.IsActive(), "time": ms(o.Datetime), "reference": o.Reference,
		"reason": o.Reason, "gateway_name": o.GatewayName}
}

func tradeRow(t *engine.Trade) any {
	return map[string]any{"vt_tradeid": t.VtTradeID(), "vt_orderid": t.VtOrderID(), "vt_symbol": t.VtSymbol(),
		"direction": t.Direction.String(), "offset": t.Offset.String(), "price": t.Price, "volume": t.Volume,
		"time": ms(t.Datetime), "gateway_name": t.GatewayName}
}

func positionRow(p *engine.Position) any {
	return map[string]any{"vt_positionid": p.VtPositionID(), "vt_symbol": p.VtSymbol(),
		"direction": p.Direction.String(), "volume": p.Volume, "yd_volume": p.YdVolume, "frozen": p.Frozen,
		"price": p.Price, "pnl": p.Pnl, "gateway_name": p.GatewayName}
}

func accountRow(a *engine.Account) any {
	return map[string]any{"vt_accountid": a.VtAccountID(), "accountid": a.AccountID, "balance": a.Balance,
		"frozen": a.Frozen, "available": a.Available(), "gateway_name": a.GatewayName}
}

func contractRow(c *engine.Contract) any {
	return map[string]any{"vt_symbol": c.VtSymbol(), "symbol": c.Symbol, "exchange": c.Exchange.String(),
		"name": c.Name, "product": c.Product.String(), "size": c.Size, "pricetick": c.Pricetick,
		"min_volume": c.MinVolume, "gateway_name": c.GatewayName}
}

// enumName is one enum member as the page shows it.
type enumName struct {
	Code string `json:"code"`
	EN   string `json:"en"`
	ZH   string `json:"zh"`
}

type enum interface {
	~uint8
	String() string
	DisplayName(engine.Lang) string
}

// members lists an enum's members from first on, up to the first invalid
// value.
func members[E enum](first E) []enumName {
	var out []enumName
	for i := int(first); i < 256; i++ {
		e := E(i)
		if strings.HasPrefix(e.String(), "invalid(") {
			break
		}
		out = append(out, enumName{e.String(), e.DisplayName(engine.LangEN), e.DisplayName(engine.LangZH)})
	}
	return out
}

func enums() map[string][]enumName {
	return map[string][]enumName{
		"direction": members(engine.DirectionLong),
		"offset":    members(engine.OffsetNone),
		"type":      members(engine.OrderTypeLimit),
		"status":    members(engine.StatusSubmitting),
		"exchange":  members(engine.Exchange(1)),
		"product":   members(engine.Product(1)),
	}
}
