package rpcgateway

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Ticks of symbols that share a name on two exchanges, interleaved with a
// third, each land in their own slot; the last slot is reused only for
// the same symbol and exchange.
func TestTickSlots(t *testing.T) {
	m := newMirror()
	syms := []engine.SubscribeRequest{{Symbol: "rb2601", Exchange: engine.ExchangeSHFE},
		{Symbol: "rb2601", Exchange: engine.ExchangeDCE}, {Symbol: "ag2602", Exchange: engine.ExchangeSHFE}}
	slots := map[*entry[*engine.Tick]]bool{}
	for round := range 3 {
		for i, s := range syms {
			tk := &engine.Tick{Symbol: s.Symbol, Exchange: s.Exchange, LastPrice: float64(10*round + i)}
			e := m.tickSlot(tk)
			if e.v.Symbol != tk.Symbol || e.v.Exchange != tk.Exchange {
				t.Fatalf("round %d: the slot of %s.%s holds %s.%s", round, tk.Symbol, tk.Exchange, e.v.Symbol, e.v.Exchange)
			}
			if want := float64(10*(round-1) + i); round > 0 && e.v.LastPrice != want {
				t.Fatalf("round %d: the slot of tick %d holds price %v, want %v", round, i, e.v.LastPrice, want)
			}
			if again := m.tickSlot(tk); again != e {
				t.Fatalf("round %d: a second look-up of tick %d gave another slot", round, i)
			}
			*e = entry[*engine.Tick]{tk, uint64(round)}
			slots[e] = true
		}
	}
	if len(slots) != 3 || len(m.ticks) != 3 {
		t.Fatalf("%d slots handed out, %d recorded; want 3", len(slots), len(m.ticks))
	}
}

// Ticks whose strings change from one to the next (symbol, exchange,
// name, the server's gateway) come out whole: the decoder's reuse of the
// last tick's strings never leaks one into the next, and every tick is
// renamed to this gateway.
func TestTicksDecodedWhole(t *testing.T) {
	ev := engine.NewEventEngine(engine.WithTimerInterval(0), engine.WithLogger(quietLogger()))
	ev.Start()
	defer ev.Stop()
	var got []*engine.Tick
	ev.RegisterTap(engine.EventTick, func(e engine.Event) { got = append(got, e.Data.(*engine.Tick)) })
	g := New(ev, "", Options{Logger: quietLogger()})
	now := time.Unix(1_700_000_000, 0)
	sent := []engine.Tick{
		{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Name: "rebar", LastPrice: 1, Datetime: now},
		{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Name: "rebar", LastPrice: 2, Datetime: now},
		{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeDCE, Name: "rebar", LastPrice: 3, Datetime: now},
		{GatewayName: "CTP", Symbol: "IF2512", Exchange: engine.ExchangeCFFEX, Name: "index", LastPrice: 4, Datetime: now},
		{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Name: "", LastPrice: 5, Datetime: now},
	}
	for i := range sent {
		payload, err := wire.AppendTick(nil, &sent[i])
		if err != nil {
			t.Fatal(err)
		}
		g.onEvent(rpc.Event{Seq: uint64(i), Type: wire.TypeTick, Payload: payload})
	}
	if len(got) != len(sent) {
		t.Fatalf("%d ticks emitted, want %d", len(got), len(sent))
	}
	for i, tk := range got {
		want := sent[i]
		want.GatewayName = g.Name()
		if !tk.Datetime.Equal(want.Datetime) {
			t.Errorf("tick %d: time %v, want %v", i, tk.Datetime, want.Datetime)
		}
		tk2 := *tk
		tk2.Datetime, want.Datetime = time.Time{}, time.Time{}
		if tk2 != want {
			t.Errorf("tick %d:\n got %+v\nwant %+v", i, tk2, want)
		}
	}
}
