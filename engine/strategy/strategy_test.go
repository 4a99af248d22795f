package strategy_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/engine/strategy"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/internal/testutil"
)

const vt = "rb2601.SHFE"

// buyer buys one lot at the ask on its first tick and records its callbacks.
type buyer struct {
	strategy.Base
	mu      sync.Mutex
	sent    bool
	orders  []string
	trades  int
	pos     float64
	started bool
	stopped bool
}

func (b *buyer) OnStart(*strategy.Context) { b.mu.Lock(); b.started = true; b.mu.Unlock() }
func (b *buyer) OnStop(*strategy.Context)  { b.mu.Lock(); b.stopped = true; b.mu.Unlock() }

func (b *buyer) OnTick(c *strategy.Context, t *engine.Tick) {
	if b.sent {
		return
	}
	b.sent = true
	if _, err := c.Send(vt, engine.DirectionLong, engine.OffsetOpen, t.AskPrice[0], 1); err != nil {
		c.Logf("send: %v", err)
	}
}

func (b *buyer) OnOrder(c *strategy.Context, o *engine.Order) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.orders = append(b.orders, o.VtOrderID()+":"+o.Reference)
}

func (b *buyer) OnTrade(c *strategy.Context, t *engine.Trade) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trades++
	b.pos = c.Pos(vt)
}

func (b *buyer) snapshot() (orders []string, trades int, pos float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.orders...), b.trades, b.pos
}

type panicker struct{ strategy.Base }

func (panicker) OnTick(*strategy.Context, *engine.Tick) { panic("boom") }

func eventually(t *testing.T, what string, step func(), cond func() error) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, what, func() error {
		err := cond()
		if err != nil {
			step()
		}
		return err
	})
}

// simEngine is a main engine with a connected sim gateway (manual steps),
// closed when the test ends.
func simEngine(t *testing.T) (*engine.MainEngine, *sim.Gateway) {
	t.Helper()
	me := engine.NewMainEngine(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = me.Close() })
	gwi, err := me.AddGateway(sim.New, sim.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	gw := gwi.(*sim.Gateway)
	if err := me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "seed": 3.0, "tick_rate": 0.0,
		"capital": 1e6}, gw.Name()); err != nil {
		t.Fatal(err)
	}
	return me, gw
}

// Two strategies on one engine each see only their own orders and fills;
// a third that panics is stopped and logged while the others go on.
func TestStrategiesSeeTheirOwnOrders(t *testing.T) {
	me, gw := simEngine(t)
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	a, b := &buyer{}, &buyer{}
	ra, err := strategy.Add(me, strategy.Config{Name: "alpha", Symbols: []string{vt}, Gateway: gw.Name()}, a, log)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := strategy.Add(me, strategy.Config{Name: "beta", Symbols: []string{vt}, Gateway: gw.Name()}, b, log)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := strategy.Add(me, strategy.Config{Name: "gamma", Symbols: []string{vt}, Gateway: gw.Name()}, panicker{}, log)
	if err != nil {
		t.Fatal(err)
	}
	step := func() { _ = gw.Step() }
	eventually(t, "both strategies filled", step, func() error {
		for _, s := range []*buyer{a, b} {
			if _, trades, pos := s.snapshot(); trades != 1 || pos != 1 {
				return fmt.Errorf("trades %d pos %g", trades, pos)
			}
		}
		return nil
	})
	for name, s := range map[string]*buyer{"alpha": a, "beta": b} {
		orders, _, _ := s.snapshot()
		for _, o := range orders {
			if !strings.HasSuffix(o, ":"+name) {
				t.Errorf("%s saw another strategy's order %s", name, o)
			}
		}
		if len(orders) == 0 {
			t.Errorf("%s saw none of its orders", name)
		}
	}
	select {
	case <-rc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the panicking strategy did not stop")
	}
	if err := rc.Err(); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panicking strategy's error: %v", err)
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "panicked") {
		t.Errorf("no log of the panic:\n%s", logs.String())
	}
	logMu.Unlock()
	for _, r := range []*strategy.Runner{ra, rb} {
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		_ = r.Stop() // idempotent
	}
	if !a.started || !a.stopped {
		t.Errorf("OnStart %v, OnStop %v", a.started, a.stopped)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// reentrant is a gateway that puts events holding no lock, and fills every
// order at once, putting its order and trade events from inside SendOrder:
// with inline callbacks they arrive while the strategy's OnTick runs.
type reentrant struct {
	engine.GatewayBase
	mu   sync.Mutex
	next int
}

func (g *reentrant) Reentrant() bool                               { return true }
func (g *reentrant) DefaultSetting() engine.Setting                { return engine.Setting{} }
func (g *reentrant) Exchanges() []engine.Exchange                  { return []engine.Exchange{engine.ExchangeSHFE} }
func (g *reentrant) Connect(engine.Setting) error                  { return nil }
func (g *reentrant) Close() error                                  { return nil }
func (g *reentrant) Subscribe(engine.SubscribeRequest) error       { return nil }
func (g *reentrant) CancelOrder(engine.CancelRequest) error        { return nil }
func (g *reentrant) SendQuote(engine.QuoteRequest) (string, error) { return "", engine.ErrNotConnected }
func (g *reentrant) CancelQuote(engine.CancelRequest) error        { return nil }
func (g *reentrant) QueryAccount() error                           { return nil }
func (g *reentrant) QueryPosition() error                          { return nil }
func (g *reentrant) QueryHistory(engine.HistoryRequest) ([]engine.Bar, error) {
	return nil, nil
}

func (g *reentrant) SendOrder(req engine.OrderRequest) (string, error) {
	g.mu.Lock()
	g.next++
	id := fmt.Sprint(g.next)
	g.mu.Unlock()
	o := req.CreateOrder(id, g.Name())
	o.Status = engine.StatusNotTraded
	first := o
	g.OnOrder(&first)
	g.OnTrade(&engine.Trade{GatewayName: g.Name(), Symbol: req.Symbol, Exchange: req.Exchange, OrderID: id, TradeID: id,
		Direction: req.Direction, Offset: req.Offset, Price: req.Price, Volume: req.Volume})
	o.Traded, o.Status = o.Volume, engine.StatusAllTraded
	g.OnOrder(&o)
	return o.VtOrderID(), nil
}

// reentrantEngine is a main engine with a reentrant gateway named RE.
func reentrantEngine(t *testing.T) (*engine.MainEngine, *reentrant) {
	me := engine.NewMainEngine(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = me.Close() })
	gwi, err := me.AddGateway(func(ev *engine.EventEngine, name string) engine.Gateway {
		return &reentrant{GatewayBase: engine.NewGatewayBase(ev, name)}
	}, "RE")
	if err != nil {
		t.Fatal(err)
	}
	return me, gwi.(*reentrant)
}

func (g *reentrant) tick(p float64) {
	g.OnTick(&engine.Tick{GatewayName: g.Name(), Symbol: "rb2601", Exchange: engine.ExchangeSHFE, LastPrice: p,
		AskPrice: [5]float64{p + 1}, BidPrice: [5]float64{p - 1}})
}

// echo answers every tick with an order, and checks that its callbacks
// never overlap.
type echo struct {
	strategy.Base
	in      sync.Mutex // held by a callback: TryLock failing means two overlap
	overlap bool
	ticks   int
	orders  int
	trades  atomic.Int64
	started bool
	stopped bool
}

func (e *echo) enter() func() {
	if !e.in.TryLock() {
		e.overlap = true
		return func() {}
	}
	return e.in.Unlock
}

func (e *echo) OnStart(*strategy.Context) { defer e.enter()(); e.started = true }
func (e *echo) OnStop(*strategy.Context)  { defer e.enter()(); e.stopped = true }
func (e *echo) OnTick(c *strategy.Context, t *engine.Tick) {
	defer e.enter()()
	e.ticks++
	if _, err := c.Send(vt, engine.DirectionLong, engine.OffsetOpen, t.AskPrice[0], 1); err != nil {
		panic(err)
	}
}
func (e *echo) OnOrder(c *strategy.Context, o *engine.Order) {
	defer e.enter()()
	e.orders++
}
func (e *echo) OnTrade(c *strategy.Context, t *engine.Trade) { defer e.enter()(); e.trades.Add(1) }

// Inline callbacks: events put from inside a callback (the order's own
// events) are delivered after it returns, callbacks never overlap even with
// ticks delivered from two goroutines, and every event is delivered once.
func TestInlineCallbacks(t *testing.T) {
	me, gw := reentrantEngine(t)
	e := &echo{}
	r, err := strategy.Add(me, strategy.Config{Name: "echo", Symbols: []string{vt}, Gateway: "RE", Inline: true}, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	const perG = 500
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				gw.tick(float64(3000 + g*1000 + i))
			}
		}()
	}
	wg.Wait()
	// Every tick's order fills: the last trade is the last event.
	testutil.Eventually(t, 10*time.Second, "every fill", func() error {
		if n := e.trades.Load(); n < 2*perG {
			return fmt.Errorf("%d trades of %d", n, 2*perG)
		}
		return nil
	})
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if e.overlap { // also: an order's events put inside OnTick did not run inside it
		t.Fatal("two callbacks ran at once")
	}
	if e.ticks != 2*perG || e.orders != 4*perG || e.trades.Load() != 2*perG {
		t.Fatalf("ticks %d orders %d trades %d, want %d %d %d", e.ticks, e.orders, e.trades.Load(), 2*perG, 4*perG, 2*perG)
	}
	if !e.started || !e.stopped {
		t.Fatalf("OnStart %v OnStop %v", e.started, e.stopped)
	}
	gw.tick(1) // after Stop: delivered to nobody
	if e.ticks != 2*perG {
		t.Fatal("a tick was delivered after Stop")
	}
}

// A panicking inline strategy is stopped; the delivering goroutine goes on.
func TestInlinePanicStopsOnlyTheStrategy(t *testing.T) {
	me, gw := reentrantEngine(t)
	r, err := strategy.Add(me, strategy.Config{Name: "p", Symbols: []string{vt}, Gateway: "RE", Inline: true}, panicker{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	gw.tick(1)
	select {
	case <-r.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the panicking strategy did not stop")
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Err: %v", err)
	}
	gw.tick(2) // goes nowhere, and does not block
	if err := r.Stop(); err == nil {
		t.Fatal("Stop after a panic: want the panic")
	}
}

// Inline callbacks on a gateway that puts events under its own lock would
// deadlock on the first order: refused with the reason.
func TestInlineNeedsAReentrantGateway(t *testing.T) {
	me := engine.NewMainEngine(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer me.Close()
	if _, err := me.AddGateway(sim.New, sim.DefaultName); err != nil {
		t.Fatal(err)
	}
	_, err := strategy.Add(me, strategy.Config{Name: "x", Symbols: []string{vt}, Gateway: sim.DefaultName, Inline: true},
		panicker{}, nil)
	if err == nil || !strings.Contains(err.Error(), "ReentrantGateway") {
		t.Fatalf("inline on SIM: %v", err)
	}
}

// tickCounter counts its ticks by vt_symbol.
type tickCounter struct {
	strategy.Base
	mu   sync.Mutex
	seen map[string]int
}

func (c *tickCounter) OnTick(_ *strategy.Context, t *engine.Tick) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[t.VtSymbol()]++
}

func (c *tickCounter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.seen {
		out[k] = v
	}
	return out
}

// A strategy sees the ticks of its own symbols only, though the engine
// receives others.
func TestStrategySeesOnlyItsSymbols(t *testing.T) {
	me, gw := simEngine(t)
	const other = "IF2512.CFFEX"
	sym, ex, _ := engine.ParseVtSymbol(other)
	if err := me.Subscribe(engine.SubscribeRequest{Symbol: sym, Exchange: ex}, gw.Name()); err != nil {
		t.Fatal(err)
	}
	c := &tickCounter{seen: map[string]int{}}
	r, err := strategy.Add(me, strategy.Config{Name: "counter", Symbols: []string{vt}, Gateway: gw.Name()}, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	eventually(t, "ticks of both symbols in the engine, the strategy's own delivered", func() { _ = gw.Step() },
		func() error {
			_, a := me.Tick(vt)
			_, b := me.Tick(other)
			if !a || !b || c.counts()[vt] < 3 {
				return fmt.Errorf("engine has %s: %v, %s: %v; strategy saw %v", vt, a, other, b, c.counts())
			}
			return nil
		})
	if n := c.counts()[other]; n != 0 {
		t.Fatalf("the strategy on %s got %d ticks of %s", vt, n, other)
	}
}
