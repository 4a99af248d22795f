package sim_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
)

const rb = "rb2601.SHFE" // size 10, tick 1, margin 0.1
const capital = 1_000_000.0

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func wantTrades(t *testing.T, got []*engine.Trade, prices, vols []float64) {
	t.Helper()
	if len(got) != len(prices) {
		t.Fatalf("got %d trades, want %d: %+v", len(got), len(prices), got)
	}
	for i, tr := range got {
		if !near(tr.Price, prices[i]) || !near(tr.Volume, vols[i]) {
			t.Errorf("trade %d: %g@%g, want %g@%g", i, tr.Volume, tr.Price, vols[i], prices[i])
		}
	}
}

func TestLimitOrderSweepsBookLevels(t *testing.T) {
	h := newHarness(t, 7)
	bk := h.book(rb)
	vol := bk.AskVolume[0] + bk.AskVolume[1] + 1
	o := h.send(limit(rb, engine.DirectionLong, engine.OffsetOpen, bk.AskPrice[2], vol))
	if o.Status != engine.StatusAllTraded || o.Traded != vol {
		t.Fatalf("order %s traded %g, want ALLTRADED %g", o.Status, o.Traded, vol)
	}
	wantTrades(t, h.tradesOf(o), bk.AskPrice[:3], []float64{bk.AskVolume[0], bk.AskVolume[1], 1})

	cost := bk.AskPrice[0]*bk.AskVolume[0] + bk.AskPrice[1]*bk.AskVolume[1] + bk.AskPrice[2]
	avg := cost / vol
	p := h.position(rb, engine.DirectionLong)
	if p.Volume != vol || p.YdVolume != 0 || !near(p.Price, avg) {
		t.Errorf("position %+v, want volume %g at %g, all today", p, vol, avg)
	}
	pnl := (bk.LastPrice - avg) * vol * 10
	a := h.account()
	if !near(a.Frozen, math.Round(cost*10*0.1*100)/100) || !near(a.Balance, math.Round((capital+pnl)*100)/100) {
		t.Errorf("account balance %.2f frozen %.2f, want %.2f and %.2f", a.Balance, a.Frozen, capital+pnl, cost*10*0.1)
	}
	if !near(a.Available(), a.Balance-a.Frozen) {
		t.Error("available is not balance - frozen")
	}
	if n := len(h.me.AllActiveOrders()); n != 0 {
		t.Errorf("%d active orders after a full fill", n)
	}
}

func TestPartialFillRestsAndFillsOnLaterTicks(t *testing.T) {
	h := newHarness(t, 7)
	if err := h.me.Subscribe(engine.SubscribeRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, "SIM"); err != nil {
		t.Fatal(err)
	}
	bk := h.book(rb)
	vol := bk.AskVolume[0] + 5
	o := h.send(limit(rb, engine.DirectionLong, engine.OffsetOpen, bk.AskPrice[0], vol))
	if o.Status != engine.StatusPartTraded || o.Traded != bk.AskVolume[0] {
		t.Fatalf("order %s traded %g, want PARTTRADED %g", o.Status, o.Traded, bk.AskVolume[0])
	}
	if _, ok := findActive(h, o.VtOrderID()); !ok {
		t.Fatal("part-traded order is not in the active set")
	}
	// The remaining 5 lots freeze margin at the limit price.
	a := h.account()
	wantFrozen := bk.AskPrice[0]*bk.AskVolume[0]*10*0.1 + bk.AskPrice[0]*5*10*0.1
	if !near(a.Frozen, wantFrozen) {
		t.Errorf("frozen %.2f, want %.2f", a.Frozen, wantFrozen)
	}
	// Step until the market offers at or below the limit again.
	for i := 0; i < 500; i++ {
		h.step(1)
		if o, _ = h.me.Order(o.VtOrderID()); !o.IsActive() {
			break
		}
	}
	if o.Status != engine.StatusAllTraded {
		t.Fatalf("order still %s after 500 ticks", o.Status)
	}
	for _, tr := range h.tradesOf(o) {
		if tr.Price > bk.AskPrice[0] {
			t.Errorf("buy limit %g filled at %g", bk.AskPrice[0], tr.Price)
		}
	}
	if _, ok := findActive(h, o.VtOrderID()); ok {
		t.Error("filled order still in the active set")
	}
	if len(h.me.AllTicks()) != 1 {
		t.Errorf("OMS has %d ticks, want the subscribed one", len(h.me.AllTicks()))
	}
}

func findActive(h *harness, vt string) (*engine.Order, bool) {
	for _, o := range h.me.AllActiveOrders() {
		if o.VtOrderID() == vt {
			return o, true
		}
	}
	return nil, false
}

func TestMarketFAKAndFOK(t *testing.T) {
	t.Run("market takes every level then cancels the rest", func(t *testing.T) {
		h := newHarness(t, 7)
		bk := h.book(rb)
		var total float64
		for _, v := range bk.AskVolume {
			total += v
		}
		o := h.send(withType(limit(rb, engine.DirectionLong, engine.OffsetOpen, 0, total+3), engine.OrderTypeMarket))
		if o.Status != engine.StatusCancelled || o.Traded != total || !strings.Contains(o.Reason, "market order") {
			t.Fatalf("order %s traded %g reason %q, want CANCELLED after %g", o.Status, o.Traded, o.Reason, total)
		}
		wantTrades(t, h.tradesOf(o), bk.AskPrice[:], bk.AskVolume[:])
	})
	t.Run("FAK fills within its price and cancels the rest", func(t *testing.T) {
		h := newHarness(t, 7)
		bk := h.book(rb)
		vol := bk.BidVolume[0] + bk.BidVolume[1] + 10
		// Closing needs a position: short selling opens one.
		o := h.send(withType(limit(rb, engine.DirectionShort, engine.OffsetOpen, bk.BidPrice[1], vol), engine.OrderTypeFAK))
		if o.Status != engine.StatusCancelled || o.Traded != bk.BidVolume[0]+bk.BidVolume[1] {
			t.Fatalf("order %s traded %g, want CANCELLED after %g", o.Status, o.Traded, bk.BidVolume[0]+bk.BidVolume[1])
		}
		wantTrades(t, h.tradesOf(o), bk.BidPrice[:2], bk.BidVolume[:2])
		if p := h.position(rb, engine.DirectionShort); p.Volume != o.Traded {
			t.Errorf("short position %g, want %g", p.Volume, o.Traded)
		}
		if a := h.account(); !near(a.Frozen, (bk.BidPrice[0]*bk.BidVolume[0]+bk.BidPrice[1]*bk.BidVolume[1])*10*0.1) {
			t.Errorf("frozen %.2f: the cancelled remainder must release its margin", a.Frozen)
		}
	})
	t.Run("FOK without enough volume cancels whole", func(t *testing.T) {
		h := newHarness(t, 7)
		bk := h.book(rb)
		o := h.send(withType(limit(rb, engine.DirectionLong, engine.OffsetOpen, bk.AskPrice[0], bk.AskVolume[0]+1), engine.OrderTypeFOK))
		if o.Status != engine.StatusCancelled || o.Traded != 0 || !strings.Contains(o.Reason, "FOK") {
			t.Fatalf("order %s traded %g reason %q", o.Status, o.Traded, o.Reason)
		}
		if a := h.account(); a.Frozen != 0 || a.Balance != capital {
			t.Errorf("account %+v changed by a cancelled FOK", a)
		}
	})
	t.Run("FOK with enough volume fills whole", func(t *testing.T) {
		h := newHarness(t, 7)
		bk := h.book(rb)
		o := h.send(withType(limit(rb, engine.DirectionLong, engine.OffsetOpen, bk.AskPrice[1], bk.AskVolume[0]+1), engine.OrderTypeFOK))
		if o.Status != engine.StatusAllTraded {
			t.Fatalf("order %s", o.Status)
		}
		wantTrades(t, h.tradesOf(o), bk.AskPrice[:2], []float64{bk.AskVolume[0], 1})
	})
}

func TestCancel(t *testing.T) {
	h := newHarness(t, 7)
	bk := h.book(rb)
	o := h.send(limit(rb, engine.DirectionLong, engine.OffsetOpen, bk.BidPrice[2], 4))
	if o.Status != engine.StatusNotTraded {
		t.Fatalf("passive order is %s", o.Status)
	}
	if a := h.account(); !near(a.Frozen, bk.BidPrice[2]*4*10*0.1) {
		t.Errorf("frozen %.2f, want the order's margin %.2f", a.Frozen, bk.BidPrice[2]*4*10*0.1)
	}
	if err := h.me.CancelOrder(o.CancelRequest(), "SIM"); err != nil {
		t.Fatal(err)
	}
	h.idle()
	o, _ = h.me.Order(o.VtOrderID())
	if o.Status != engine.StatusCancelled || len(h.me.AllActiveOrders()) != 0 {
		t.Fatalf("after cancel: %s, %d active", o.Status, len(h.me.AllActiveOrders()))
	}
	if a := h.account(); a.Frozen != 0 || a.Balance != capital {
		t.Errorf("account after cancel %+v, want nothing frozen", a)
	}
	if err := h.me.CancelOrder(o.CancelRequest(), "SIM"); !errors.Is(err, sim.ErrOrderFinished) {
		t.Errorf("second cancel: %v, want ErrOrderFinished", err)
	}
	err := h.me.CancelOrder(engine.CancelRequest{OrderID: "999", Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, "SIM")
	if !errors.Is(err, engine.ErrUnknownOrder) {
		t.Errorf("cancel of unknown order: %v, want ErrUnknownOrder", err)
	}
}

func TestRejects(t *testing.T) {
	bk := func(h *harness) engine.Tick { return h.book(rb) }
	cases := []struct {
		name   string
		req    func(h *harness) engine.OrderRequest
		reason string
	}{
		{"unknown symbol", func(*harness) engine.OrderRequest {
			return limit("xx9999.SHFE", engine.DirectionLong, engine.OffsetOpen, 1, 1)
		}, "unknown contract"},
		{"price off the tick", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionLong, engine.OffsetOpen, bk(h).AskPrice[0]+0.5, 1)
		}, "price tick"},
		{"above limit up", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionLong, engine.OffsetOpen, bk(h).LimitUp+1, 1)
		}, "daily limits"},
		{"below limit down", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionShort, engine.OffsetOpen, bk(h).LimitDown-1, 1)
		}, "daily limits"},
		{"zero volume", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionLong, engine.OffsetOpen, bk(h).AskPrice[0], 0)
		}, "volume must be positive"},
		{"negative volume", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionLong, engine.OffsetOpen, bk(h).AskPrice[0], -1)
		}, "volume must be positive"},
		{"above max volume", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionLong, engine.OffsetOpen, bk(h).AskPrice[0], 501)
		}, "maximum 500"},
		{"stock lot size", func(h *harness) engine.OrderRequest {
			return limit("600519.SSE", engine.DirectionLong, engine.OffsetNone, 1500, 150)
		}, "multiple of the minimum volume 100"},
		{"insufficient funds", func(h *harness) engine.OrderRequest {
			return limit("IF2512.CFFEX", engine.DirectionLong, engine.OffsetOpen, 4500, 19) // 19 × 162 000
		}, "insufficient funds"},
		{"insufficient position", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionShort, engine.OffsetCloseToday, bk(h).BidPrice[0], 1)
		}, "insufficient position"},
		{"futures without offset", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionLong, engine.OffsetNone, bk(h).AskPrice[0], 1)
		}, "need an offset"},
		{"stock short sale", func(h *harness) engine.OrderRequest {
			return limit("600519.SSE", engine.DirectionShort, engine.OffsetOpen, 1500, 100)
		}, "short selling"},
		{"unsupported type", func(h *harness) engine.OrderRequest {
			return withType(limit(rb, engine.DirectionLong, engine.OffsetOpen, bk(h).AskPrice[0], 1), engine.OrderTypeStop)
		}, "not supported"},
		{"no direction", func(h *harness) engine.OrderRequest {
			return limit(rb, engine.DirectionUnset, engine.OffsetOpen, bk(h).AskPrice[0], 1)
		}, "direction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, 7)
			o := h.send(c.req(h))
			if o.Status != engine.StatusRejected || !strings.Contains(o.Reason, c.reason) {
				t.Fatalf("status %s reason %q, want REJECTED with %q", o.Status, o.Reason, c.reason)
			}
			if n := len(h.me.AllTrades()); n != 0 {
				t.Errorf("%d trades from a rejected order", n)
			}
			if a := h.account(); a.Frozen != 0 || a.Balance != capital {
				t.Errorf("account %+v changed by a rejected order", a)
			}
			if len(h.me.AllActiveOrders()) != 0 {
				t.Error("rejected order is active")
			}
		})
	}
}

func TestCloseTodayYesterdayAndSettle(t *testing.T) {
	h := newHarness(t, 7)
	bk := h.book(rb)
	open := h.send(limit(rb, engine.DirectionLong, engine.OffsetOpen, bk.AskPrice[0], 3))
	if open.Status != engine.StatusAllTraded {
		t.Fatalf("open: %s", open.Status)
	}
	// On SHFE, CLOSE closes yesterday's position: there is none yet.
	bk = h.book(rb)
	o := h.send(limit(rb, engine.DirectionShort, engine.OffsetClose, bk.BidPrice[0], 1))
	if o.Status != engine.StatusRejected || !strings.Contains(o.Reason, "CLOSETODAY") {
		t.Fatalf("CLOSE of today's SHFE position: %s %q", o.Status, o.Reason)
	}
	o = h.send(limit(rb, engine.DirectionShort, engine.OffsetCloseToday, bk.BidPrice[0], 2))
	if o.Status != engine.StatusAllTraded {
		t.Fatalf("CLOSETODAY: %s %q", o.Status, o.Reason)
	}
	realized := (bk.BidPrice[0] - open.Price) * 2 * 10 // bought at the ask, sold at the bid
	p := h.position(rb, engine.DirectionLong)
	if p.Volume != 1 || p.YdVolume != 0 || p.Frozen != 0 {
		t.Fatalf("position after CLOSETODAY %+v", p)
	}
	if err := h.gw.Settle(); err != nil {
		t.Fatal(err)
	}
	h.idle()
	if p = h.position(rb, engine.DirectionLong); p.YdVolume != 1 {
		t.Fatalf("after settle yd_volume %g, want 1", p.YdVolume)
	}
	bk = h.book(rb)
	o = h.send(limit(rb, engine.DirectionShort, engine.OffsetClose, bk.BidPrice[0], 1))
	if o.Status != engine.StatusAllTraded {
		t.Fatalf("CLOSE of yesterday's position: %s %q", o.Status, o.Reason)
	}
	realized += (bk.BidPrice[0] - open.Price) * 10
	if p = h.position(rb, engine.DirectionLong); p.Volume != 0 || p.Price != 0 {
		t.Errorf("flat position %+v", p)
	}
	if a := h.account(); !near(a.Balance, capital+realized) || a.Frozen != 0 {
		t.Errorf("account %+v, want balance %.2f with nothing frozen", a, capital+realized)
	}
}

func TestCloseOnDCEClosesTodayAndFreezes(t *testing.T) {
	h := newHarness(t, 7)
	const m = "m2601.DCE"
	bk := h.book(m)
	h.send(limit(m, engine.DirectionShort, engine.OffsetOpen, bk.BidPrice[0], 2))
	bk = h.book(m)
	// A passive close freezes the position until it fills or is cancelled.
	o := h.send(limit(m, engine.DirectionLong, engine.OffsetClose, bk.BidPrice[1], 2))
	if o.Status != engine.StatusNotTraded {
		t.Fatalf("passive close: %s %q", o.Status, o.Reason)
	}
	if p := h.position(m, engine.DirectionShort); p.Frozen != 2 {
		t.Errorf("frozen %g, want 2", p.Frozen)
	}
	if o2 := h.send(limit(m, engine.DirectionLong, engine.OffsetClose, bk.BidPrice[1], 1)); o2.Status != engine.StatusRejected {
		t.Errorf("closing frozen volume: %s", o2.Status)
	}
	if err := h.me.CancelOrder(o.CancelRequest(), "SIM"); err != nil {
		t.Fatal(err)
	}
	h.idle()
	if p := h.position(m, engine.DirectionShort); p.Frozen != 0 || p.Volume != 2 {
		t.Errorf("after cancel %+v", p)
	}
}

func TestShortPositionMarkToMarket(t *testing.T) {
	h := newHarness(t, 11)
	if err := h.me.Subscribe(engine.SubscribeRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, "SIM"); err != nil {
		t.Fatal(err)
	}
	bk := h.book(rb)
	h.send(limit(rb, engine.DirectionShort, engine.OffsetOpen, bk.BidPrice[0], 1))
	h.step(50)
	if err := h.gw.QueryPosition(); err != nil {
		t.Fatal(err)
	}
	h.idle()
	last := h.book(rb).LastPrice
	p := h.position(rb, engine.DirectionShort)
	if want := (bk.BidPrice[0] - last) * 10; !near(p.Pnl, want) {
		t.Errorf("short pnl %g, want %g (sold %g, last %g)", p.Pnl, want, bk.BidPrice[0], last)
	}
}

func TestStockBuyAndSell(t *testing.T) {
	h := newHarness(t, 7)
	const s = "600519.SSE"
	bk := h.book(s)
	o := h.send(limit(s, engine.DirectionLong, engine.OffsetNone, bk.AskPrice[0], 100))
	if o.Status != engine.StatusAllTraded {
		t.Fatalf("buy: %s %q", o.Status, o.Reason)
	}
	if a := h.account(); !near(a.Frozen, bk.AskPrice[0]*100) {
		t.Errorf("a paid-in-full stock holds its cost %.2f, frozen %.2f", bk.AskPrice[0]*100, a.Frozen)
	}
	o = h.send(limit(s, engine.DirectionShort, engine.OffsetNone, h.book(s).BidPrice[0], 100))
	if o.Status != engine.StatusAllTraded {
		t.Fatalf("sell: %s %q", o.Status, o.Reason)
	}
	if p := h.position(s, engine.DirectionLong); p.Volume != 0 {
		t.Errorf("position after selling all: %+v", p)
	}
}

// script is a fixed sequence of calls; the same seed must give the same events.
func script(t *testing.T, seed int) []engine.Event {
	h := newHarness(t, seed)
	for _, vt := range []string{rb, "IF2512.CFFEX"} {
		sym, ex, _ := engine.ParseVtSymbol(vt)
		if err := h.me.Subscribe(engine.SubscribeRequest{Symbol: sym, Exchange: ex}, "SIM"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 40; i++ {
		h.step(5)
		bk := h.book(rb)
		d, px := engine.DirectionLong, bk.BidPrice[i%3]
		if i%2 == 1 {
			d, px = engine.DirectionShort, bk.AskPrice[i%3]
		}
		h.send(limit(rb, d, engine.OffsetOpen, px, float64(1+i%4)))
	}
	h.step(20)
	var out []engine.Event
	for _, e := range h.recorded() {
		if e.Type != engine.EventLog { // logs carry the wall clock
			out = append(out, e)
		}
	}
	return out
}

func TestDeterministicUnderSeed(t *testing.T) {
	a, b := script(t, 42), script(t, 42)
	if len(a) != len(b) {
		t.Fatalf("same seed: %d events vs %d", len(a), len(b))
	}
	var trades int
	for i := range a {
		if a[i].Type != b[i].Type || !reflect.DeepEqual(a[i].Data, b[i].Data) {
			t.Fatalf("same seed: event %d differs:\n%+v\n%+v", i, a[i].Data, b[i].Data)
		}
		if a[i].Type == engine.EventTrade {
			trades++
		}
	}
	if trades == 0 {
		t.Fatal("the script made no trades, so it proves little")
	}
	c := script(t, 43)
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave the same events")
	}
}

func TestConnectErrors(t *testing.T) {
	cases := []struct {
		set  engine.Setting
		want string
	}{
		{engine.Setting{"password": "nope"}, "wrong password"},
		{engine.Setting{"user_id": "mallory"}, "unknown user"},
		{engine.Setting{"tick_rate": -1}, "tick_rate"},
		{engine.Setting{"tick_rate": "fast"}, "tick_rate: want a number"},
		{engine.Setting{"seed": 1.5}, "seed"},
		{engine.Setting{"capital": 0}, "capital"},
		{engine.Setting{"colour": "red"}, `unknown setting "colour"`},
		{engine.Setting{"contracts_file": "/nonexistent/contracts.json"}, "contracts file"},
	}
	for _, c := range cases {
		me := engine.NewMainEngine(nil, nil)
		if _, err := me.AddGateway(sim.New, ""); err != nil {
			t.Fatal(err)
		}
		err := me.Connect(c.set, "SIM")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("connect %v: %v, want an error containing %q", c.set, err, c.want)
		}
		if c.want == "wrong password" && !errors.Is(err, sim.ErrLoginFailed) {
			t.Errorf("wrong password does not wrap ErrLoginFailed: %v", err)
		}
		_ = me.Close()
	}
}

func TestNotConnected(t *testing.T) {
	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	if _, err := me.AddGateway(sim.New, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := me.SendOrder(limit(rb, engine.DirectionLong, engine.OffsetOpen, 3200, 1), "SIM"); !errors.Is(err, engine.ErrNotConnected) {
		t.Errorf("send before connect: %v", err)
	}
	if _, err := me.SendOrder(limit(rb, engine.DirectionLong, engine.OffsetOpen, 3200, 1), "CTP"); !errors.Is(err, engine.ErrUnknownGateway) {
		t.Errorf("send to an unknown gateway: %v", err)
	}
}

func TestContractsFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`[{"symbol":"ag2602","exchange":"SHFE","name":"沪银2602","product":"FUTURES",
		"size":15,"pricetick":1,"min_volume":1,"max_volume":100,"price":7800,"margin_ratio":0.12,"limit_ratio":0.08}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 1, func(s engine.Setting) { s["contracts_file"] = good })
	cs := h.me.AllContracts()
	if len(cs) != 1 || cs[0].VtSymbol() != "ag2602.SHFE" || cs[0].Size != 15 || cs[0].GatewayName != "SIM" {
		t.Fatalf("contracts %+v", cs)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"symbol":"x","exchange":"SHFE","product":"FUTURES","size":1,"pricetick":0,"min_volume":1,"price":1,"margin_ratio":0.1,"limit_ratio":0.1}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	if _, err := me.AddGateway(sim.New, ""); err != nil {
		t.Fatal(err)
	}
	if err := me.Connect(engine.Setting{"contracts_file": bad}, "SIM"); err == nil || !strings.Contains(err.Error(), "pricetick") {
		t.Errorf("bad contracts file: %v, want an error naming pricetick", err)
	}
}

func TestHistory(t *testing.T) {
	h := newHarness(t, 5)
	req := engine.HistoryRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Interval: engine.IntervalMinute,
		Start: t0.Add(-10 * time.Hour), End: t0}
	bars, err := h.me.QueryHistory(req, "SIM")
	if err != nil {
		t.Fatal(err)
	}
	if len(bars) != 600 {
		t.Fatalf("%d bars for 10 hours of minutes", len(bars))
	}
	for i, b := range bars {
		if b.LowPrice > math.Min(b.OpenPrice, b.ClosePrice) || b.HighPrice < math.Max(b.OpenPrice, b.ClosePrice) {
			t.Fatalf("bar %d inconsistent: %+v", i, b)
		}
		if b.ClosePrice != math.Round(b.ClosePrice) || b.Volume <= 0 {
			t.Fatalf("bar %d off the tick grid or empty: %+v", i, b)
		}
		if i > 0 && (b.OpenPrice != bars[i-1].ClosePrice || b.Datetime.Sub(bars[i-1].Datetime) != time.Minute) {
			t.Fatalf("bar %d does not follow bar %d", i, i-1)
		}
	}
	// An overlapping window gives the same bars.
	req.Start = t0.Add(-5 * time.Hour)
	later, err := h.me.QueryHistory(req, "SIM")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(later, bars[300:]) {
		t.Error("overlapping history windows disagree")
	}
	req.Interval = engine.IntervalTick
	if _, err := h.me.QueryHistory(req, "SIM"); err == nil {
		t.Error("tick history should be refused")
	}
	req.Interval, req.Start = engine.IntervalMinute, t0.Add(-2000*time.Hour)
	if _, err := h.me.QueryHistory(req, "SIM"); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversize history: %v", err)
	}
}

func TestLiveTicksAndClose(t *testing.T) {
	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	gw, err := me.AddGateway(sim.New, "")
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan *engine.Tick, 1024)
	me.EventEngine().Register(engine.EventTick+"cu2601.SHFE", func(e engine.Event) {
		select {
		case ticks <- e.Data.(*engine.Tick):
		default:
		}
	})
	if err := me.Connect(engine.Setting{"tick_rate": 2000}, "SIM"); err != nil {
		t.Fatal(err)
	}
	if err := me.Subscribe(engine.SubscribeRequest{Symbol: "cu2601", Exchange: engine.ExchangeSHFE}, "SIM"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	var last time.Time
	for n := 0; n < 100; n++ {
		select {
		case tk := <-ticks:
			if tk.Datetime.Before(last) {
				t.Fatal("tick times go backwards")
			}
			last = tk.Datetime
			if tk.BidPrice[0] >= tk.AskPrice[0] || tk.LastPrice > tk.LimitUp || tk.LastPrice < tk.LimitDown {
				t.Fatalf("bad book %+v", tk)
			}
		case <-deadline:
			t.Fatalf("only %d live ticks in 10 s at 2000/s", n)
		}
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	st := gw.(*sim.Gateway).Stats()
	if err := gw.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if gw.(*sim.Gateway).Stats() != st {
		t.Error("ticks after Close returned")
	}
}

// Each tick is stamped when it is handed to OnTick, after its market
// moved and its snapshot was built: two markets stepped together carry
// their own times, and no clock read comes between a tick's stamp and its
// handlers (the end-to-end latency the benchmarks measure starts there).
func TestTicksStampedAtOnTick(t *testing.T) {
	var mu sync.Mutex
	var reads int64
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		reads++
		return t0.Add(time.Duration(reads) * time.Second)
	}
	latest := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return t0.Add(time.Duration(reads) * time.Second)
	}
	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	gwi, err := me.AddGateway(sim.Factory(sim.Options{Clock: clock}), "")
	if err != nil {
		t.Fatal(err)
	}
	gw := gwi.(*sim.Gateway)
	var smu sync.Mutex
	var stamps []time.Time
	var bad []string
	me.EventEngine().RegisterTap(engine.EventTick, func(e engine.Event) { // inside OnTick
		smu.Lock()
		defer smu.Unlock()
		tk := e.Data.(*engine.Tick)
		if now := latest(); !tk.Datetime.Equal(now) || !tk.Localtime.Equal(now) {
			bad = append(bad, fmt.Sprintf("%s stamped %v, clock at OnTick %v", tk.Symbol, tk.Datetime, now))
		}
		stamps = append(stamps, tk.Datetime)
	})
	if err := me.Connect(engine.Setting{"seed": 1, "tick_rate": 0}, gw.Name()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"rb2601", "cu2601"} {
		if err := me.Subscribe(engine.SubscribeRequest{Symbol: s, Exchange: engine.ExchangeSHFE}, gw.Name()); err != nil {
			t.Fatal(err)
		}
	}
	smu.Lock()
	stamps, bad = nil, nil // a subscription's first tick, if any
	smu.Unlock()
	if err := gw.Step(); err != nil { // manual mode: its taps run here, in Step
		t.Fatal(err)
	}
	smu.Lock()
	defer smu.Unlock()
	if len(bad) > 0 {
		t.Fatal(bad)
	}
	if len(stamps) != 2 || !stamps[0].Before(stamps[1]) {
		t.Fatalf("one step's two ticks were stamped %v, want two increasing times", stamps)
	}
}
