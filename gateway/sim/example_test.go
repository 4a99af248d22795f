package sim_test

import (
	"fmt"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
)

// A main engine trading on the simulated exchange: a limit order that
// crosses the book fills at once, and the OMS shows the trade, the position
// and the account. tick_rate 0 and a fixed clock make every figure exact.
func Example() {
	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	clock := func() time.Time { return time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC) }
	if _, err := me.AddGateway(sim.Factory(sim.Options{Clock: clock}), ""); err != nil {
		fmt.Println(err)
		return
	}
	err := me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "seed": 7, "tick_rate": 0}, "SIM")
	if err != nil {
		fmt.Println(err)
		return
	}
	vt, err := me.SendOrder(engine.OrderRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Direction: engine.DirectionLong, Offset: engine.OffsetOpen, Type: engine.OrderTypeLimit,
		Price: 3210, Volume: 2}, "SIM")
	if err != nil {
		fmt.Println(err)
		return
	}
	waitIdle(me)
	o, _ := me.Order(vt)
	fmt.Println(vt, o.Status, o.Traded)
	for _, t := range me.AllTrades() {
		fmt.Println("trade", t.VtTradeID(), t.Direction, t.Volume, "@", t.Price)
	}
	p, _ := me.Position("SIM.rb2601.SHFE.LONG")
	fmt.Println("position", p.Volume, "@", p.Price)
	a, _ := me.Account("SIM.demo")
	fmt.Printf("account balance %.2f frozen %.2f\n", a.Balance, a.Frozen)
	// Output:
	// SIM.1 ALLTRADED 2
	// trade SIM.1 LONG 2 @ 3201
	// position 2 @ 3201
	// account balance 999980.00 frozen 6402.00
}

// waitIdle returns once the event engine has handled every event put so far.
func waitIdle(me *engine.MainEngine) {
	done := make(chan struct{})
	unreg := me.EventEngine().Register("example.idle", func(engine.Event) { close(done) })
	defer unreg()
	me.EventEngine().Put(engine.Event{Type: "example.idle"})
	<-done
}
