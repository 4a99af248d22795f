package strategy_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/engine/strategy"
	"github.com/vnrpc/vnrpc/gateway/sim"
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		step()
		time.Sleep(2 * time.Millisecond)
	}
}

// Two strategies on one engine each see only their own orders and fills;
// a third that panics is stopped and logged while the others go on.
func TestStrategiesSeeTheirOwnOrders(t *testing.T) {
	me := engine.NewMainEngine(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer me.Close()
	gwi, err := me.AddGateway(sim.New, sim.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	gw := gwi.(*sim.Gateway)
	if err := me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "seed": 3.0, "tick_rate": 0.0,
		"capital": 1e6}, gw.Name()); err != nil {
		t.Fatal(err)
	}
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
