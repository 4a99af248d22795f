package engine

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGateway records calls and reports through GatewayBase.
type fakeGateway struct {
	GatewayBase
	calls  *[]string
	closed bool
}

func fakeFactory(calls *[]string) GatewayFactory {
	return func(ev *EventEngine, name string) Gateway {
		if name == "" {
			name = "FAKE"
		}
		return &fakeGateway{GatewayBase: NewGatewayBase(ev, name), calls: calls}
	}
}

func (g *fakeGateway) rec(s string)                     { *g.calls = append(*g.calls, g.Name()+":"+s) }
func (g *fakeGateway) DefaultSetting() Setting          { return Setting{} }
func (g *fakeGateway) Exchanges() []Exchange            { return []Exchange{ExchangeSHFE, ExchangeDCE} }
func (g *fakeGateway) Connect(Setting) error            { g.rec("connect"); return nil }
func (g *fakeGateway) Close() error                     { g.rec("close"); g.closed = true; return nil }
func (g *fakeGateway) Subscribe(SubscribeRequest) error { g.rec("subscribe"); return nil }
func (g *fakeGateway) SendOrder(r OrderRequest) (string, error) {
	g.rec("send")
	o := r.CreateOrder("1", g.Name())
	g.OnOrder(&o)
	return o.VtOrderID(), nil
}
func (g *fakeGateway) CancelOrder(CancelRequest) error            { g.rec("cancel"); return nil }
func (g *fakeGateway) SendQuote(QuoteRequest) (string, error)     { return "", ErrNotSupported }
func (g *fakeGateway) CancelQuote(CancelRequest) error            { return ErrNotSupported }
func (g *fakeGateway) QueryAccount() error                        { return nil }
func (g *fakeGateway) QueryPosition() error                       { return nil }
func (g *fakeGateway) QueryHistory(HistoryRequest) ([]Bar, error) { return nil, nil }

type fakeApp struct {
	name  string
	calls *[]string
}

func (a *fakeApp) Name() string { return a.name }
func (a *fakeApp) Close() error { *a.calls = append(*a.calls, "app:"+a.name); return nil }

func TestMainEngineRoutingAndCloseOrder(t *testing.T) {
	var calls []string
	me := NewMainEngine(nil, nil)
	if _, err := me.AddGateway(fakeFactory(&calls), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := me.AddGateway(fakeFactory(&calls), "B"); err != nil {
		t.Fatal(err)
	}
	if _, err := me.AddGateway(fakeFactory(&calls), "B"); err == nil {
		t.Error("a second gateway named B was accepted")
	}
	for _, n := range []string{"first", "second"} {
		if _, err := me.AddApp(func(*MainEngine) (App, error) { return &fakeApp{n, &calls}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got := me.GatewayNames(); !slices.Equal(got, []string{"FAKE", "B"}) {
		t.Errorf("gateway names %v", got)
	}
	if got := me.Exchanges(); !slices.Equal(got, []Exchange{ExchangeSHFE, ExchangeDCE}) {
		t.Errorf("exchanges %v", got)
	}
	if err := me.Connect(nil, "B"); err != nil {
		t.Fatal(err)
	}
	vt, err := me.SendOrder(OrderRequest{Symbol: "rb2601", Exchange: ExchangeSHFE, Direction: DirectionLong}, "B")
	if err != nil || vt != "B.1" {
		t.Fatalf("send: %q %v", vt, err)
	}
	_, err = me.SendOrder(OrderRequest{}, "CTP")
	if !errors.Is(err, ErrUnknownGateway) || !strings.Contains(err.Error(), "CTP") {
		t.Errorf("unknown gateway: %v", err)
	}
	drain(t, me.EventEngine())
	if o, ok := me.Order("B.1"); !ok || o.Status != StatusSubmitting {
		t.Errorf("OMS order: %+v %v", o, ok)
	}
	if err := me.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"B:connect", "B:send", "app:second", "app:first", "FAKE:close", "B:close"}
	if !slices.Equal(calls, want) {
		t.Errorf("calls %v\nwant  %v", calls, want)
	}
	if err := me.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := me.Gateway("B"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestOMSActiveOrdersAndInsertionOrder(t *testing.T) {
	ev := NewEventEngine(WithTimerInterval(0))
	me := NewMainEngine(ev, nil)
	defer me.Close()
	gw := NewGatewayBase(ev, "G")
	now := time.Now()
	order := func(id string, st Status, traded float64) {
		o := Order{GatewayName: "G", Symbol: "rb2601", Exchange: ExchangeSHFE, OrderID: id,
			Status: st, Volume: 2, Traded: traded, Datetime: now}
		gw.OnOrder(&o)
	}
	order("1", StatusSubmitting, 0)
	order("2", StatusNotTraded, 0)
	order("3", StatusNotTraded, 0)
	drain(t, ev)
	if ids := vtOrderIDs(me.AllActiveOrders()); !slices.Equal(ids, []string{"G.1", "G.2", "G.3"}) {
		t.Fatalf("active %v", ids)
	}
	order("1", StatusPartTraded, 1)
	order("2", StatusAllTraded, 2)
	order("3", StatusCancelled, 0)
	drain(t, ev)
	if ids := vtOrderIDs(me.AllActiveOrders()); !slices.Equal(ids, []string{"G.1"}) {
		t.Fatalf("active after fills and cancel %v", ids)
	}
	if ids := vtOrderIDs(me.AllOrders()); !slices.Equal(ids, []string{"G.1", "G.2", "G.3"}) {
		t.Fatalf("all orders keep insertion order: %v", ids)
	}
	if o, _ := me.Order("G.2"); o.Status != StatusAllTraded {
		t.Errorf("latest state not kept: %s", o.Status)
	}
	order("1", StatusRejected, 1)
	// Many orders entering and leaving exercise the compaction of holes.
	for i := range 100 {
		order("x"+string(rune('A'+i%26))+string(rune('a'+i/26)), StatusNotTraded, 0)
	}
	for i := range 99 {
		order("x"+string(rune('A'+i%26))+string(rune('a'+i/26)), StatusAllTraded, 2)
	}
	drain(t, ev)
	if ids := vtOrderIDs(me.AllActiveOrders()); !slices.Equal(ids, []string{"G.xVd"}) {
		t.Fatalf("active after churn %v", ids)
	}
	c := me.Counts()
	if c.Orders != 103 || c.ActiveOrders != 1 {
		t.Errorf("counts %+v", c)
	}
	// Specific events reach their own handlers too.
	got := make(chan *Order, 1)
	ev.Register(EventOrder+"G.42", func(e Event) { got <- e.Data.(*Order) })
	order("42", StatusNotTraded, 0)
	select {
	case o := <-got:
		if o.OrderID != "42" {
			t.Errorf("specific event carried %s", o.OrderID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no specific order event")
	}
}

func vtOrderIDs(os []*Order) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.VtOrderID()
	}
	return out
}

func TestVtIDs(t *testing.T) {
	p := Position{GatewayName: "SIM", Symbol: "rb2601", Exchange: ExchangeSHFE, Direction: DirectionShort}
	if p.VtPositionID() != "SIM.rb2601.SHFE.SHORT" {
		t.Error(p.VtPositionID())
	}
	a := Account{GatewayName: "SIM", AccountID: "demo", Balance: 10, Frozen: 4}
	if a.VtAccountID() != "SIM.demo" || a.Available() != 6 {
		t.Error(a.VtAccountID(), a.Available())
	}
	tr := Trade{GatewayName: "SIM", OrderID: "7", TradeID: "9"}
	if tr.VtOrderID() != "SIM.7" || tr.VtTradeID() != "SIM.9" {
		t.Error(tr.VtOrderID(), tr.VtTradeID())
	}
	sym, ex, err := ParseVtSymbol("IF2512.CFFEX")
	if err != nil || sym != "IF2512" || ex != ExchangeCFFEX {
		t.Error(sym, ex, err)
	}
	if sym, ex, err = ParseVtSymbol("a.b.EUX"); err != nil || sym != "a.b" || ex != ExchangeEUREX {
		t.Error(sym, ex, err)
	}
	for _, bad := range []string{"", "rb2601", "rb2601.", ".SHFE", "rb2601.XXX"} {
		if _, _, err := ParseVtSymbol(bad); err == nil {
			t.Errorf("ParseVtSymbol(%q) accepted", bad)
		}
	}
	req := OrderRequest{Symbol: "rb2601", Exchange: ExchangeSHFE, Direction: DirectionLong, Type: OrderTypeFAK,
		Volume: 3, Price: 3200, Offset: OffsetOpen, Reference: "s1"}
	o := req.CreateOrder("5", "SIM")
	if o.VtOrderID() != "SIM.5" || o.Status != StatusSubmitting || o.Type != OrderTypeFAK || o.Reference != "s1" || !o.IsActive() {
		t.Errorf("%+v", o)
	}
	if c := o.CancelRequest(); c.OrderID != "5" || c.VtSymbol() != "rb2601.SHFE" {
		t.Errorf("%+v", c)
	}
}

// The OMS keeps each symbol's latest tick under its vt_symbol, in the
// order symbols first ticked.
func TestOMSTicksByVtSymbol(t *testing.T) {
	ev := NewEventEngine(WithTimerInterval(0))
	me := NewMainEngine(ev, nil)
	defer me.Close()
	gw := NewGatewayBase(ev, "G")
	tick := func(sym string, ex Exchange, price float64) {
		gw.OnTick(&Tick{GatewayName: "G", Symbol: sym, Exchange: ex, LastPrice: price, Datetime: time.Now()})
	}
	tick("rb2601", ExchangeSHFE, 1)
	tick("IF2512", ExchangeCFFEX, 2)
	tick("rb2601", ExchangeSHFE, 3)
	tick("rb2601", ExchangeDCE, 4) // same symbol, another exchange: another key
	drain(t, ev)
	for vt, want := range map[string]float64{"rb2601.SHFE": 3, "IF2512.CFFEX": 2, "rb2601.DCE": 4} {
		if tk, ok := me.Tick(vt); !ok || tk.LastPrice != want {
			t.Errorf("Tick(%s) = %v, %v; want last price %v", vt, tk, ok, want)
		}
	}
	var vts []string
	for _, tk := range me.AllTicks() {
		vts = append(vts, tk.VtSymbol())
	}
	if !slices.Equal(vts, []string{"rb2601.SHFE", "IF2512.CFFEX", "rb2601.DCE"}) {
		t.Errorf("AllTicks order %v", vts)
	}
}

// The OMS takes ticks inside Put: a tick is in the OMS when OnTick
// returns, even while the dispatcher is busy, and a queued tick handler
// finds a tick at least as new as its own in the OMS.
func TestOMSTickBeforeDispatch(t *testing.T) {
	ev := NewEventEngine(WithTimerInterval(0))
	me := NewMainEngine(ev, nil)
	defer me.Close()
	gw := NewGatewayBase(ev, "G")
	release, busy := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // before Close, also on failure
	ev.Register("test.block", func(Event) { close(busy); <-release })
	var seen []float64
	ev.Register(EventTick, func(e Event) {
		tk, ok := me.Tick(e.Data.(*Tick).VtSymbol())
		if !ok {
			t.Error("a queued tick handler found no tick in the OMS")
			return
		}
		seen = append(seen, tk.LastPrice)
	})
	ev.Put(Event{Type: "test.block"})
	<-busy
	for _, p := range []float64{1, 2} {
		gw.OnTick(&Tick{GatewayName: "G", Symbol: "rb2601", Exchange: ExchangeSHFE, LastPrice: p, Datetime: time.Now()})
		if tk, ok := me.Tick("rb2601.SHFE"); !ok || tk.LastPrice != p {
			t.Fatalf("with the dispatcher busy, Tick = %v, %v after OnTick of price %v", tk, ok, p)
		}
	}
	unblock()
	drain(t, ev)
	if !slices.Equal(seen, []float64{2, 2}) {
		t.Errorf("queued handlers found prices %v in the OMS; want [2 2]", seen)
	}
}
