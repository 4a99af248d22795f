package rpcgateway

import (
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// BenchmarkOnEventTick: the client's share of a tick's latency: decode,
// rename, record, and put into the engine with a tap that sees it.
func BenchmarkOnEventTick(b *testing.B) {
	ev := engine.NewEventEngine(engine.WithTimerInterval(0), engine.WithLogger(quietLogger()))
	ev.Start()
	defer ev.Stop()
	var seen int
	ev.RegisterTap(engine.EventTick, func(engine.Event) { seen++ })
	g := New(ev, "", Options{Logger: quietLogger()})
	tk := &engine.Tick{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Name: "rebar",
		LastPrice: 3200, Datetime: time.Now()}
	payload, err := wire.AppendTick(nil, tk)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.onEvent(rpc.Event{Type: wire.TypeTick, Payload: payload})
	}
	if seen != b.N {
		b.Fatalf("tap saw %d of %d", seen, b.N)
	}
}
