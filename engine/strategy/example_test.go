package strategy_test

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/engine/strategy"
	"github.com/vnrpc/vnrpc/gateway/sim"
)

// follower buys one lot at the ask of the first tick it sees, and says
// when the fill comes back.
type follower struct {
	strategy.Base
	filled chan struct{}
}

func (follower) OnTick(c *strategy.Context, t *engine.Tick) {
	if c.Pos(t.VtSymbol()) == 0 && len(c.ActiveOrders()) == 0 {
		if _, err := c.Send(t.VtSymbol(), engine.DirectionLong, engine.OffsetOpen, t.AskPrice[0], 1); err != nil {
			c.Logf("send: %v", err)
		}
	}
}

func (f follower) OnTrade(c *strategy.Context, t *engine.Trade) {
	fmt.Printf("%s bought %g %s at %g; position %g\n", c.Name(), t.Volume, t.VtSymbol(), t.Price, c.Pos(t.VtSymbol()))
	close(f.filled)
}

// A strategy on the simulated exchange, in one process: it sees the ticks
// of its symbol and only its own orders and fills. The same strategy runs
// unchanged in a client process on the RPC gateway.
func Example() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	me := engine.NewMainEngine(nil, quiet)
	defer me.Close()
	clock := func() time.Time { return time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC) }
	gw, err := me.AddGateway(sim.Factory(sim.Options{Clock: clock}), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := me.Connect(engine.Setting{"seed": 7, "tick_rate": 0}, gw.Name()); err != nil {
		fmt.Println(err)
		return
	}
	f := follower{filled: make(chan struct{})}
	r, err := strategy.Add(me, strategy.Config{Name: "f1", Symbols: []string{"rb2601.SHFE"}, Gateway: gw.Name()}, f, quiet)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Stop()
	_ = gw.(*sim.Gateway).Step() // one tick: the market moves only on Step with tick_rate 0
	<-f.filled
	// Output:
	// f1 bought 1 rb2601.SHFE at 3201; position 1
}
