package sim_test

import (
	"sync"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
)

// harness is a main engine with one sim gateway in manual mode (tick_rate
// 0) and a fixed clock, recording every general event.
type harness struct {
	t  testing.TB
	me *engine.MainEngine
	gw *sim.Gateway

	mu     sync.Mutex
	events []engine.Event
}

var t0 = time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC)

func newHarness(t testing.TB, seed int, extra ...func(engine.Setting)) *harness {
	t.Helper()
	h := &harness{t: t, me: engine.NewMainEngine(nil, nil)}
	t.Cleanup(func() {
		if err := h.me.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	h.me.EventEngine().RegisterGeneral(func(e engine.Event) {
		switch e.Type {
		case engine.EventTick, engine.EventOrder, engine.EventTrade, engine.EventPosition,
			engine.EventAccount, engine.EventContract, engine.EventLog:
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		}
	})
	gw, err := h.me.AddGateway(sim.Factory(sim.Options{Clock: func() time.Time { return t0 }}), "")
	if err != nil {
		t.Fatal(err)
	}
	h.gw = gw.(*sim.Gateway)
	s := engine.Setting{"user_id": "demo", "password": "demo", "seed": seed, "tick_rate": 0}
	for _, f := range extra {
		f(s)
	}
	if err := h.me.Connect(s, "SIM"); err != nil {
		t.Fatal(err)
	}
	h.idle()
	return h
}

// idle waits until the event engine has handled every event put so far.
func (h *harness) idle() {
	h.t.Helper()
	done := make(chan struct{})
	unreg := h.me.EventEngine().Register("test.idle", func(engine.Event) { close(done) })
	defer unreg()
	h.me.EventEngine().Put(engine.Event{Type: "test.idle"})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.t.Fatal("event engine did not drain within 10s")
	}
}

func (h *harness) book(vt string) engine.Tick {
	h.t.Helper()
	tk, err := h.gw.Snapshot(vt)
	if err != nil {
		h.t.Fatal(err)
	}
	return tk
}

func (h *harness) send(req engine.OrderRequest) *engine.Order {
	h.t.Helper()
	vt, err := h.me.SendOrder(req, "SIM")
	if err != nil {
		h.t.Fatalf("send %+v: %v", req, err)
	}
	h.idle()
	o, ok := h.me.Order(vt)
	if !ok {
		h.t.Fatalf("order %s not in the OMS", vt)
	}
	return o
}

func (h *harness) step(n int) {
	h.t.Helper()
	for range n {
		if err := h.gw.Step(); err != nil {
			h.t.Fatal(err)
		}
	}
	h.idle()
}

// tradesOf lists the trades of one order, in order.
func (h *harness) tradesOf(o *engine.Order) []*engine.Trade {
	var out []*engine.Trade
	for _, t := range h.me.AllTrades() {
		if t.VtOrderID() == o.VtOrderID() {
			out = append(out, t)
		}
	}
	return out
}

func (h *harness) position(vt string, d engine.Direction) engine.Position {
	p, ok := h.me.Position("SIM." + vt + "." + d.String())
	if !ok {
		return engine.Position{}
	}
	return *p
}

func (h *harness) account() engine.Account {
	a, ok := h.me.Account("SIM.demo")
	if !ok {
		h.t.Fatal("no account")
	}
	return *a
}

func (h *harness) recorded() []engine.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]engine.Event(nil), h.events...)
}

func limit(vt string, d engine.Direction, off engine.Offset, price, vol float64) engine.OrderRequest {
	sym, ex, _ := engine.ParseVtSymbol(vt)
	return engine.OrderRequest{Symbol: sym, Exchange: ex, Direction: d, Offset: off,
		Type: engine.OrderTypeLimit, Price: price, Volume: vol}
}

func withType(r engine.OrderRequest, t engine.OrderType) engine.OrderRequest { r.Type = t; return r }
