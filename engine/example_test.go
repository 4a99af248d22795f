package engine_test

import (
	"fmt"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
)

// The main engine driven by the simulated exchange: handlers see an
// order's life in order (SUBMITTING, NOTTRADED, a partial fill, the cancel
// of the rest), and the OMS keeps the latest state of each object.
func ExampleMainEngine() {
	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	ev := me.EventEngine()
	done := make(chan struct{})
	ev.Register(engine.EventOrder, func(e engine.Event) {
		o := e.Data.(*engine.Order)
		fmt.Printf("order %s %s traded %g", o.VtOrderID(), o.Status, o.Traded)
		if o.Reason != "" {
			fmt.Printf(" (%s)", o.Reason)
		}
		fmt.Println()
		if !o.IsActive() && o.Status != engine.StatusSubmitting {
			close(done)
		}
	})
	ev.Register(engine.EventTrade, func(e engine.Event) {
		t := e.Data.(*engine.Trade)
		fmt.Printf("trade %s %s %g @ %g\n", t.VtSymbol(), t.Direction.DisplayName(engine.LangZH), t.Volume, t.Price)
	})
	clock := func() time.Time { return time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC) }
	if _, err := me.AddGateway(sim.Factory(sim.Options{Clock: clock}), ""); err != nil {
		fmt.Println(err)
		return
	}
	if err := me.Connect(engine.Setting{"seed": 7, "tick_rate": 0}, "SIM"); err != nil {
		fmt.Println(err)
		return
	}
	// A FAK sell at the best bid takes what the best level holds (43 lots
	// with seed 7) and cancels the rest.
	_, err := me.SendOrder(engine.OrderRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Direction: engine.DirectionShort, Offset: engine.OffsetOpen, Type: engine.OrderTypeFAK,
		Price: 3200, Volume: 50}, "SIM")
	if err != nil {
		fmt.Println(err)
		return
	}
	<-done
	// Output:
	// order SIM.1 SUBMITTING traded 0
	// order SIM.1 NOTTRADED traded 0
	// order SIM.1 PARTTRADED traded 8
	// trade rb2601.SHFE 空 8 @ 3200
	// order SIM.1 CANCELLED traded 8 (FAK: remainder cancelled)
}
