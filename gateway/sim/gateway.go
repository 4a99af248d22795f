package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnrpc/vnrpc/engine"
)

// DefaultName is the gateway's name when none is given.
const DefaultName = "SIM"

// Errors callers branch on (with errors.Is).
var (
	// ErrLoginFailed: unknown user or wrong password.
	ErrLoginFailed = errors.New("sim: login failed")
	// ErrUnknownContract: the symbol is not listed on the simulated exchange.
	ErrUnknownContract = errors.New("sim: unknown contract")
	// ErrOrderFinished: the order cannot be cancelled, it is no longer active.
	ErrOrderFinished = errors.New("sim: order already finished")
	// ErrAlreadyConnected: Connect was called twice.
	ErrAlreadyConnected = errors.New("sim: already connected")
)

// Options configure the simulated exchange beyond its connect settings.
type Options struct {
	// Clock stamps ticks, orders and trades (default time.Now). Tests pass
	// a fake clock to make every event deterministic.
	Clock func() time.Time
	// Accounts maps user ids to passwords (default: user "demo", password "demo").
	Accounts map[string]string
	// Contracts replaces the default contract set; the contracts_file
	// setting, when given, replaces both.
	Contracts []Spec
}

// Factory returns a GatewayFactory for MainEngine.AddGateway.
func Factory(o Options) engine.GatewayFactory {
	return func(ev *engine.EventEngine, name string) engine.Gateway { return NewGateway(ev, name, o) }
}

// New is the GatewayFactory with default options: me.AddGateway(sim.New, "").
func New(ev *engine.EventEngine, name string) engine.Gateway { return NewGateway(ev, name, Options{}) }

var _ engine.Gateway = (*Gateway)(nil)

// Quick reports that the simulated exchange answers every call at once
// (engine.QuickGateway): a service may run its calls inline.
func (g *Gateway) Quick() bool { return true }

// Gateway is a simulated exchange behind the engine.Gateway contract: a
// contract set, ticks from a seeded random walk with a 5-level book, order
// matching against that book (LIMIT, MARKET, FAK, FOK, partial fills),
// cancels, rejects with reasons, positions with today/yesterday volumes,
// and an account with margin, frozen funds and mark-to-market pnl.
//
// With the same seed, the same contracts, the same clock and the same
// calls, it reports the same events. With tick_rate 0 the market only moves
// on Step, which makes tests exact; with tick_rate > 0 a goroutine started
// by Connect steps every subscribed market tick_rate times a second, and
// pushes positions and the account once a second. Close stops it and waits.
//
// Event order for an order: SUBMITTING, then REJECTED or NOTTRADED, then
// for each fill the order (PARTTRADED/ALLTRADED), the trade, the position
// and the account. All methods are safe for concurrent use.
type Gateway struct {
	engine.GatewayBase
	opts Options

	mu        sync.Mutex
	state     int
	set       settings
	markets   map[string]*market
	mlist     []*market // contract order
	subs      []*market // subscription order
	orders    map[string]*order
	active    map[string]*order
	positions map[string]*position
	plist     []*position
	nextOrder int
	nextTrade int
	cash      float64 // capital plus realized pnl

	stop chan struct{}
	wg   sync.WaitGroup

	ticks   atomic.Uint64
	rounds  atomic.Uint64
	skipped atomic.Uint64
}

const (
	stateNew = iota
	stateConnected
	stateClosed
)

// NewGateway returns a gateway reporting to ev under name ("" for DefaultName).
func NewGateway(ev *engine.EventEngine, name string, o Options) *Gateway {
	if name == "" {
		name = DefaultName
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Accounts == nil {
		o.Accounts = map[string]string{"demo": "demo"}
	}
	return &Gateway{GatewayBase: engine.NewGatewayBase(ev, name), opts: o}
}

// DefaultSetting lists the connect settings with their defaults: user_id,
// password, seed, tick_rate (ticks/s per subscribed symbol; 0 = only on
// Step), capital and contracts_file (a JSON file of Specs).
func (g *Gateway) DefaultSetting() engine.Setting { return defaultSetting() }

// Exchanges lists the exchanges of the default contract set.
func (g *Gateway) Exchanges() []engine.Exchange {
	return []engine.Exchange{engine.ExchangeSHFE, engine.ExchangeDCE, engine.ExchangeCZCE,
		engine.ExchangeCFFEX, engine.ExchangeINE, engine.ExchangeSSE, engine.ExchangeSZSE}
}

// order is an order with the exchange's bookkeeping.
type order struct {
	o       engine.Order
	m       *market
	buy     bool
	lim     int64 // limit price in ticks (market orders: the daily limit)
	open    bool  // opens a position; otherwise closes one
	posDir  engine.Direction
	perLot  float64 // margin frozen per unit of open volume
	frozYD  float64 // position volume frozen by a close order
	frozTD  float64
	closeBy closeMode
}

type closeMode uint8

const (
	closeAny closeMode = iota // yesterday's volume first, then today's
	closeToday
	closeYesterday
)

// position is one direction's holding in one contract.
type position struct {
	m              *market
	dir            engine.Direction
	yd, td         float64
	frozYD, frozTD float64
	price          float64 // average open price
	margin         float64 // margin held
}

func (p *position) volume() float64 { return p.yd + p.td }

func (p *position) pnl() float64 {
	if p.volume() == 0 {
		return 0
	}
	d := p.m.price(p.m.last) - p.price
	if p.dir == engine.DirectionShort {
		d = -d
	}
	return d * p.volume() * p.m.spec.Size
}

// Connect logs in and loads the market: it checks user_id and password,
// pushes every contract and the account, and starts the tick loop when
// tick_rate > 0.
func (g *Gateway) Connect(setting engine.Setting) error {
	s, err := parseSettings(setting)
	if err != nil {
		g.WriteLogLevel(engine.LogError, err.Error())
		return err
	}
	if pw, ok := g.opts.Accounts[s.userID]; !ok || pw != s.password {
		why := "wrong password"
		if !ok {
			why = "unknown user"
		}
		err := fmt.Errorf("%w for user %q: %s", ErrLoginFailed, s.userID, why)
		g.WriteLogLevel(engine.LogError, err.Error())
		return err
	}
	specs := g.opts.Contracts
	if s.contractsFile != "" {
		if specs, err = LoadContracts(s.contractsFile); err != nil {
			g.WriteLogLevel(engine.LogError, err.Error())
			return err
		}
	} else if specs == nil {
		specs = DefaultContracts()
	} else if err := validateSpecs(specs); err != nil {
		return err
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.state {
	case stateConnected:
		return ErrAlreadyConnected
	case stateClosed:
		return engine.ErrClosed
	}
	g.set = s
	g.markets = make(map[string]*market, len(specs))
	g.mlist = g.mlist[:0]
	for i := range specs {
		sp := specs[i]
		m := newMarket(&sp, s.seed)
		g.markets[m.vt] = m
		g.mlist = append(g.mlist, m)
	}
	g.orders, g.active = map[string]*order{}, map[string]*order{}
	g.positions = map[string]*position{}
	g.cash = s.capital
	g.state = stateConnected

	g.WriteLog(fmt.Sprintf("connected to the simulated exchange as %s (seed %d)", s.userID, s.seed))
	for _, m := range g.mlist {
		c := m.spec.Contract(g.Name())
		g.OnContract(&c)
	}
	g.WriteLog(fmt.Sprintf("contracts loaded: %d", len(g.mlist)))
	g.pushAccount()
	if s.tickRate > 0 {
		g.stop = make(chan struct{})
		g.wg.Add(1)
		go g.run(s.tickRate, g.stop)
	}
	return nil
}

// Close stops the tick loop and waits for it. The gateway cannot be
// connected again. Close is idempotent.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.state == stateClosed {
		g.mu.Unlock()
		return nil
	}
	g.state = stateClosed
	stop := g.stop
	g.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	g.wg.Wait()
	return nil
}

// Subscribe starts ticks for a contract.
func (g *Gateway) Subscribe(req engine.SubscribeRequest) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return engine.ErrNotConnected
	}
	m, ok := g.markets[req.VtSymbol()]
	if !ok {
		err := fmt.Errorf("%w %s", ErrUnknownContract, req.VtSymbol())
		g.WriteLogLevel(engine.LogWarning, "subscribe failed: "+err.Error())
		return err
	}
	if !m.subscribed {
		m.subscribed = true
		g.subs = append(g.subs, m)
	}
	return nil
}

// SendOrder validates req, freezes funds or position, matches it against
// the book and returns its vt_orderid. A rejected order gets an id too; its
// REJECTED event carries the reason. The error is non-nil only when the
// gateway is not connected.
func (g *Gateway) SendOrder(req engine.OrderRequest) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return "", engine.ErrNotConnected
	}
	g.nextOrder++
	x := &order{o: req.CreateOrder(strconv.Itoa(g.nextOrder), g.Name())}
	x.o.Datetime = g.opts.Clock()
	g.orders[x.o.OrderID] = x
	g.pushOrder(x)
	if reason := g.accept(x, &req); reason != "" {
		x.o.Status, x.o.Reason = engine.StatusRejected, reason
		g.pushOrder(x)
		g.WriteLogLevel(engine.LogWarning, fmt.Sprintf("order %s rejected: %s", x.o.VtOrderID(), reason))
		return x.o.VtOrderID(), nil
	}
	x.o.Status = engine.StatusNotTraded
	g.active[x.o.OrderID] = x
	g.pushOrder(x)
	if x.open {
		g.pushAccount()
	} else {
		g.pushPosition(g.position(x.m, x.posDir))
	}
	g.execute(x)
	return x.o.VtOrderID(), nil
}

// accept checks the order and freezes what it needs; it returns the reason
// for a rejection, or "".
func (g *Gateway) accept(x *order, req *engine.OrderRequest) string {
	m, ok := g.markets[req.VtSymbol()]
	if !ok {
		return "unknown contract " + req.VtSymbol()
	}
	x.m = m
	for _, check := range []func(*order, *engine.OrderRequest) string{checkTypeAndVolume, checkPrice, checkOffset} {
		if reason := check(x, req); reason != "" {
			return reason
		}
	}
	if x.open {
		return g.freezeFunds(x, req)
	}
	return g.freezePosition(x, req)
}

// checkTypeAndVolume checks the order type, the direction and the volume
// against the contract.
func checkTypeAndVolume(x *order, req *engine.OrderRequest) string {
	sp := x.m.spec
	switch req.Type {
	case engine.OrderTypeLimit, engine.OrderTypeMarket, engine.OrderTypeFAK, engine.OrderTypeFOK:
	default:
		return fmt.Sprintf("order type %q is not supported (LIMIT, MARKET, FAK, FOK)", req.Type.String())
	}
	if req.Direction != engine.DirectionLong && req.Direction != engine.DirectionShort {
		return "direction must be LONG or SHORT"
	}
	x.buy = req.Direction == engine.DirectionLong
	switch {
	case !(req.Volume > 0):
		return fmt.Sprintf("volume must be positive, got %g", req.Volume)
	case sp.MaxVolume > 0 && req.Volume > sp.MaxVolume:
		return fmt.Sprintf("volume %g is above the contract's maximum %g", req.Volume, sp.MaxVolume)
	case req.Volume < sp.MinVolume*(1-1e-9) || !engine.OnGrid(req.Volume, sp.MinVolume):
		return fmt.Sprintf("volume %g is not a multiple of the minimum volume %g", req.Volume, sp.MinVolume)
	}
	return ""
}

// checkPrice sets the order's limit in ticks: a market order's is the
// daily limit on its side; a limit price must be on the tick and within
// the daily limits.
func checkPrice(x *order, req *engine.OrderRequest) string {
	m := x.m
	if req.Type == engine.OrderTypeMarket {
		x.lim = m.limitDown
		if x.buy {
			x.lim = m.limitUp
		}
		return ""
	}
	if !engine.OnGrid(req.Price, m.spec.Pricetick) {
		return fmt.Sprintf("price %g is not a multiple of the price tick %g", req.Price, m.spec.Pricetick)
	}
	x.lim = m.ticks(req.Price)
	if x.lim > m.limitUp || x.lim < m.limitDown {
		return fmt.Sprintf("price %g is outside the daily limits [%g, %g]", req.Price,
			m.price(m.limitDown), m.price(m.limitUp))
	}
	return ""
}

// checkOffset decides whether the order opens or closes a position, in
// which direction, and which day's volume a close takes: stocks buy to
// open and sell to close (no short sales); futures need an offset, and on
// SHFE and INE CLOSE closes yesterday's volume.
func checkOffset(x *order, req *engine.OrderRequest) string {
	if x.m.spec.Product == engine.ProductEquity {
		switch {
		case x.buy && (req.Offset == engine.OffsetNone || req.Offset == engine.OffsetOpen):
			x.open, x.posDir = true, engine.DirectionLong
		case x.buy:
			return "a stock buy opens a position: use offset NONE or OPEN"
		case req.Offset == engine.OffsetOpen:
			return "short selling is not allowed for stocks"
		default:
			x.open, x.posDir, x.closeBy = false, engine.DirectionLong, closeAny
		}
		return ""
	}
	switch req.Offset {
	case engine.OffsetOpen:
		x.open, x.posDir = true, req.Direction
	case engine.OffsetClose, engine.OffsetCloseToday, engine.OffsetCloseYesterday:
		x.posDir = engine.DirectionLong
		if x.buy {
			x.posDir = engine.DirectionShort
		}
		ex := x.m.spec.Exchange
		switch {
		case req.Offset == engine.OffsetCloseToday:
			x.closeBy = closeToday
		case req.Offset == engine.OffsetCloseYesterday, ex == engine.ExchangeSHFE || ex == engine.ExchangeINE:
			x.closeBy = closeYesterday // on SHFE and INE, CLOSE closes yesterday's volume
		default:
			x.closeBy = closeAny
		}
	default:
		return "futures orders need an offset: OPEN, CLOSE, CLOSETODAY or CLOSEYESTERDAY"
	}
	return ""
}

// freezeFunds checks that an opening order's margin is available; the
// margin stays frozen while the order works (balance counts it).
func (g *Gateway) freezeFunds(x *order, req *engine.OrderRequest) string {
	m := x.m
	ref := m.price(x.lim)
	if req.Type == engine.OrderTypeMarket {
		ref = m.price(m.limitUp)
	}
	x.perLot = ref * m.spec.Size * m.spec.MarginRatio
	need, avail := x.perLot*req.Volume, g.available()
	if need > avail+1e-6 {
		return fmt.Sprintf("insufficient funds: the order needs %.2f, available %.2f", need, avail)
	}
	return ""
}

// freezePosition checks that a closing order's volume is free to close
// and freezes it, yesterday's first where the exchange allows either.
func (g *Gateway) freezePosition(x *order, req *engine.OrderRequest) string {
	p := g.position(x.m, x.posDir)
	freeYD, freeTD := p.yd-p.frozYD, p.td-p.frozTD
	var closable float64
	switch x.closeBy {
	case closeToday:
		closable = freeTD
	case closeYesterday:
		closable = freeYD
	default:
		closable = freeYD + freeTD
	}
	if req.Volume > closable+1e-9 {
		hint := ""
		if x.closeBy == closeYesterday && req.Offset == engine.OffsetClose {
			hint = " (on SHFE and INE, CLOSE closes yesterday's position; use CLOSETODAY for today's)"
		}
		return fmt.Sprintf("insufficient position: closing %g %s, closable %g%s",
			req.Volume, x.posDir.String(), closable, hint)
	}
	switch x.closeBy {
	case closeToday:
		x.frozTD = req.Volume
	case closeYesterday:
		x.frozYD = req.Volume
	default:
		x.frozYD = min(req.Volume, freeYD)
		x.frozTD = req.Volume - x.frozYD
	}
	p.frozYD += x.frozYD
	p.frozTD += x.frozTD
	return ""
}

// execute matches a newly accepted order against the book.
func (g *Gateway) execute(x *order) {
	m := x.m
	if x.o.Type == engine.OrderTypeFOK {
		if n := m.fillable(x.buy, x.lim); n+1e-9 < x.o.Volume {
			g.cancel(x, fmt.Sprintf("FOK not filled: only %g available at the price or better", n))
			return
		}
	}
	g.match(x)
	if !x.o.IsActive() {
		return
	}
	switch x.o.Type {
	case engine.OrderTypeLimit:
		m.resting = append(m.resting, x)
	case engine.OrderTypeMarket:
		g.cancel(x, "market order: no more liquidity within the daily limits, remainder cancelled")
	default:
		g.cancel(x, "FAK: remainder cancelled")
	}
}

// match fills x against the book as far as its price allows.
func (g *Gateway) match(x *order) {
	want := x.o.Volume - x.o.Traded
	x.m.take(x.buy, x.lim, want, func(p int64, q float64) { g.fill(x, p, q) })
}

func (g *Gateway) fill(x *order, pt int64, q float64) {
	m := x.m
	sp := m.spec
	price := m.price(pt)
	now := g.opts.Clock()
	x.o.Traded += q
	x.o.Status = engine.StatusPartTraded
	if x.o.Traded >= x.o.Volume-1e-9 {
		x.o.Traded = x.o.Volume
		x.o.Status = engine.StatusAllTraded
		delete(g.active, x.o.OrderID)
	}
	g.nextTrade++
	t := &engine.Trade{GatewayName: g.Name(), Symbol: sp.Symbol, Exchange: sp.Exchange, OrderID: x.o.OrderID,
		TradeID: strconv.Itoa(g.nextTrade), Direction: x.o.Direction, Offset: x.o.Offset,
		Price: price, Volume: q, Datetime: now}

	p := g.position(m, x.posDir)
	if x.open {
		v := p.volume()
		p.price = (p.price*v + price*q) / (v + q)
		p.td += q
		p.margin += price * q * sp.Size * sp.MarginRatio
	} else {
		before := p.volume()
		a := min(q, x.frozYD)
		x.frozYD, p.frozYD, p.yd = x.frozYD-a, p.frozYD-a, p.yd-a
		b := q - a
		x.frozTD, p.frozTD, p.td = x.frozTD-b, p.frozTD-b, p.td-b
		d := price - p.price
		if p.dir == engine.DirectionShort {
			d = -d
		}
		g.cash += d * q * sp.Size
		p.margin -= p.margin * q / before
		if p.volume() <= 1e-9 {
			p.yd, p.td, p.price, p.margin = 0, 0, 0, 0
		}
	}
	g.pushOrder(x)
	g.OnTrade(t)
	g.pushPosition(p)
	g.pushAccount()
}

// cancel ends an active order with a reason and releases what it froze.
func (g *Gateway) cancel(x *order, reason string) {
	x.o.Status, x.o.Reason = engine.StatusCancelled, reason
	delete(g.active, x.o.OrderID)
	if i := slices.Index(x.m.resting, x); i >= 0 {
		x.m.resting = slices.Delete(x.m.resting, i, i+1)
	}
	g.pushOrder(x)
	if x.open {
		g.pushAccount()
		return
	}
	p := g.position(x.m, x.posDir)
	p.frozYD -= x.frozYD
	p.frozTD -= x.frozTD
	x.frozYD, x.frozTD = 0, 0
	g.pushPosition(p)
}

// CancelOrder cancels an active order. Unknown orders give an error
// wrapping engine.ErrUnknownOrder; finished ones ErrOrderFinished.
func (g *Gateway) CancelOrder(req engine.CancelRequest) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return engine.ErrNotConnected
	}
	x, ok := g.orders[req.OrderID]
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("%w %s.%s", engine.ErrUnknownOrder, g.Name(), req.OrderID)
	case !x.o.IsActive():
		err = fmt.Errorf("%w: %s is %s", ErrOrderFinished, x.o.VtOrderID(), x.o.Status)
	}
	if err != nil {
		g.WriteLogLevel(engine.LogWarning, "cancel rejected: "+err.Error())
		return err
	}
	g.cancel(x, "cancelled by request")
	return nil
}

// SendQuote is not supported by the simulated exchange.
func (g *Gateway) SendQuote(engine.QuoteRequest) (string, error) {
	return "", fmt.Errorf("sim: quotes: %w", engine.ErrNotSupported)
}

// CancelQuote is not supported by the simulated exchange.
func (g *Gateway) CancelQuote(engine.CancelRequest) error {
	return fmt.Errorf("sim: quotes: %w", engine.ErrNotSupported)
}

// QueryAccount pushes the account, marked to market.
func (g *Gateway) QueryAccount() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return engine.ErrNotConnected
	}
	g.pushAccount()
	return nil
}

// QueryPosition pushes every position, marked to market.
func (g *Gateway) QueryPosition() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return engine.ErrNotConnected
	}
	for _, p := range g.plist {
		g.pushPosition(p)
	}
	return nil
}

// Step moves every subscribed market (and every market with resting
// orders) by one tick, in subscription then contract order: it pushes the
// tick of each subscribed contract, then fills the resting orders the new
// book crosses. With tick_rate 0 this is the only way the market moves.
func (g *Gateway) Step() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return engine.ErrNotConnected
	}
	g.stepLocked()
	return nil
}

func (g *Gateway) stepLocked() {
	for _, m := range g.subs {
		g.stepMarket(m)
	}
	for _, m := range g.mlist {
		if !m.subscribed && len(m.resting) > 0 {
			g.stepMarket(m)
		}
	}
	g.rounds.Add(1)
}

func (g *Gateway) stepMarket(m *market) {
	m.step()
	if m.subscribed {
		g.OnTick(g.stampedTick(m))
		g.ticks.Add(1)
	}
	for _, x := range slices.Clone(m.resting) {
		g.match(x)
		if !x.o.IsActive() {
			if i := slices.Index(m.resting, x); i >= 0 {
				m.resting = slices.Delete(m.resting, i, i+1)
			}
		}
	}
}

// stampedTick builds m's tick, then stamps it: a tick's Datetime is when
// it leaves the exchange, right before OnTick, where the end-to-end
// latency the benchmarks measure starts (the market's step and the
// tick's making are the exchange's time, not the path's).
func (g *Gateway) stampedTick(m *market) *engine.Tick {
	t := m.tick(g.Name())
	t.Datetime = g.opts.Clock()
	t.Localtime = t.Datetime
	return t
}

// Settle ends the trading day: active orders expire (CANCELLED), today's
// positions become yesterday's, and every market opens a new day with its
// last price as the previous close. It pushes the changes.
func (g *Gateway) Settle() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return engine.ErrNotConnected
	}
	ids := make([]int, 0, len(g.active))
	for id := range g.active {
		n, _ := strconv.Atoi(id)
		ids = append(ids, n)
	}
	slices.Sort(ids)
	for _, id := range ids {
		g.cancel(g.active[strconv.Itoa(id)], "expired at the end of the trading day")
	}
	for _, m := range g.mlist {
		m.newDay(m.last)
		m.refreshBook()
	}
	for _, p := range g.plist {
		p.yd, p.td = p.yd+p.td, 0
		g.pushPosition(p)
	}
	g.pushAccount()
	g.WriteLog("trading day settled")
	return nil
}

// Stats reports the tick loop's work: ticks pushed, rounds stepped, and
// rounds skipped because the loop fell more than a second behind.
type Stats struct {
	Ticks, Rounds, Skipped uint64
}

func (g *Gateway) Stats() Stats {
	return Stats{Ticks: g.ticks.Load(), Rounds: g.rounds.Load(), Skipped: g.skipped.Load()}
}

// run steps the markets tick_rate times a second, on schedule: after a
// late wake-up it catches up with the rounds that were due. A loop more
// than a second behind skips the backlog and counts it in Stats.Skipped.
func (g *Gateway) run(rate float64, stop <-chan struct{}) {
	defer g.wg.Done()
	period := time.Duration(float64(time.Second) / rate)
	if period <= 0 {
		period = 1
	}
	start := time.Now()
	var rounds int64
	timer := time.NewTimer(period)
	defer timer.Stop()
	mtm := time.NewTicker(time.Second)
	defer mtm.Stop()
	for {
		select {
		case <-stop:
			return
		case <-mtm.C:
			g.markToMarket()
			continue
		case <-timer.C:
		}
		due := int64(time.Since(start) / period)
		if behind := due - rounds; behind > int64(rate)+1 {
			g.skipped.Add(uint64(behind - 1))
			g.WriteLogLevel(engine.LogWarning, fmt.Sprintf("tick loop fell %d rounds behind; skipped them", behind-1))
			rounds = due - 1
		}
		for rounds < due {
			g.mu.Lock()
			if g.state != stateConnected {
				g.mu.Unlock()
				return
			}
			// Step in batches under one lock hold, bounded so orders get in.
			for n := 0; rounds < due && n < 64; n++ {
				g.stepLocked()
				rounds++
			}
			g.mu.Unlock()
		}
		timer.Reset(time.Until(start.Add(time.Duration(rounds+1) * period)))
	}
}

func (g *Gateway) markToMarket() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return
	}
	for _, p := range g.plist {
		if p.volume() > 0 {
			g.pushPosition(p)
		}
	}
	g.pushAccount()
}

// position returns the holding of m in direction dir, creating it empty.
func (g *Gateway) position(m *market, dir engine.Direction) *position {
	k := m.vt + "." + dir.String()
	p, ok := g.positions[k]
	if !ok {
		p = &position{m: m, dir: dir}
		g.positions[k] = p
		g.plist = append(g.plist, p)
	}
	return p
}

// balance is cash plus the positions' mark-to-market pnl; frozen is the
// margin of positions plus the margin frozen by active open orders.
func (g *Gateway) balance() (balance, frozen float64) {
	balance = g.cash
	for _, p := range g.plist {
		balance += p.pnl()
		frozen += p.margin
	}
	for _, x := range g.active {
		if x.open {
			frozen += x.perLot * (x.o.Volume - x.o.Traded)
		}
	}
	return balance, frozen
}

func (g *Gateway) available() float64 {
	b, f := g.balance()
	return b - f
}

func (g *Gateway) pushAccount() {
	b, f := g.balance()
	g.OnAccount(&engine.Account{GatewayName: g.Name(), AccountID: g.set.userID, Balance: round2(b), Frozen: round2(f)})
}

func (g *Gateway) pushPosition(p *position) {
	sp := p.m.spec
	g.OnPosition(&engine.Position{GatewayName: g.Name(), Symbol: sp.Symbol, Exchange: sp.Exchange,
		Direction: p.dir, Volume: p.volume(), Frozen: p.frozYD + p.frozTD, Price: p.price,
		Pnl: round2(p.pnl()), YdVolume: p.yd})
}

func (g *Gateway) pushOrder(x *order) {
	o := x.o
	g.OnOrder(&o)
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// Snapshot returns the current market of a contract as a tick (the book
// orders would trade against now), whether or not it is subscribed.
func (g *Gateway) Snapshot(vtSymbol string) (engine.Tick, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != stateConnected {
		return engine.Tick{}, engine.ErrNotConnected
	}
	m, ok := g.markets[vtSymbol]
	if !ok {
		return engine.Tick{}, fmt.Errorf("%w %s", ErrUnknownContract, vtSymbol)
	}
	return *g.stampedTick(m), nil
}

// VtSymbols lists the contracts of the connected exchange, in contract order.
func (g *Gateway) VtSymbols() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, len(g.mlist))
	for i, m := range g.mlist {
		out[i] = m.vt
	}
	return out
}
