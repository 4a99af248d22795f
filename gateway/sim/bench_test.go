package sim_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
)

// BenchmarkStep: the cost of generating one tick (random walk, book, tick
// object, two events) with the engine consuming them, for 1 and 10
// subscribed symbols.
func BenchmarkStep(b *testing.B) {
	for _, nsym := range []int{1, 10} {
		b.Run(fmt.Sprintf("symbols=%d", nsym), func(b *testing.B) {
			h := newHarness(b, 1)
			subscribe(b, h.me, nsym)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := h.gw.Step(); err != nil {
					b.Fatal(err)
				}
			}
			h.idle()
			b.StopTimer()
			b.ReportMetric(float64(b.N*nsym)/b.Elapsed().Seconds(), "ticks/s")
		})
	}
}

func subscribe(b testing.TB, me *engine.MainEngine, n int) {
	specs := sim.DefaultContracts()
	if n > len(specs) {
		b.Fatalf("only %d contracts", len(specs))
	}
	for _, s := range specs[:n] {
		if err := me.Subscribe(engine.SubscribeRequest{Symbol: s.Symbol, Exchange: s.Exchange}, "SIM"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLive runs the live tick loop for one second per iteration at
// 10 000 ticks/s on each of 10 symbols (100 000 ticks/s) and reports how
// many ticks the engine's handlers received per second and what share of
// the schedule was met (schedule-%: 100 means on time).
func BenchmarkLive(b *testing.B) {
	const perSymbol, nsym = 10_000, 10
	for range b.N {
		me := engine.NewMainEngine(nil, nil)
		var got atomic.Uint64
		me.EventEngine().Register(engine.EventTick, func(engine.Event) { got.Add(1) })
		gw, err := me.AddGateway(sim.New, "")
		if err != nil {
			b.Fatal(err)
		}
		if err := me.Connect(engine.Setting{"tick_rate": perSymbol}, "SIM"); err != nil {
			b.Fatal(err)
		}
		subscribe(b, me, nsym)
		start := time.Now()
		<-time.After(time.Second) // the measured interval: the loop runs on its own schedule
		st := gw.(*sim.Gateway).Stats()
		elapsed := time.Since(start)
		_ = me.Close()
		due := elapsed.Seconds() * perSymbol
		b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "ticks/s")
		b.ReportMetric(100*float64(st.Rounds)/due, "schedule-%")
		b.ReportMetric(float64(st.Skipped), "skipped-rounds")
	}
}
