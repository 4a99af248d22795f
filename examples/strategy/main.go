// Command strategy is a strategy process: a main engine whose gateway is
// the RPC gateway, connected to a running "vnrpc server", with one
// strategy that follows a fast and a slow moving average of the last
// price on one contract: long one lot while the fast one is above the
// slow one, flat otherwise. It logs its position and pnl every few
// seconds. Run several copies with different -name values: each sees
// only its own orders.
//
//	go run ./examples/strategy -name ma1 [-addr tcp://127.0.0.1:2014] [-symbol rb2601.SHFE]
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/engine/strategy"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

// crossover trades one lot on moving-average crossings.
type crossover struct {
	strategy.Base
	symbol     string
	fast, slow float64 // exponential averages
	n          int
	want       float64 // target position
	pending    string  // vt_orderid of the order in flight
	cash       float64 // from fills: sells add, buys subtract (per unit of size)
	last       float64
	size       float64
	lastReport time.Time
}

func (s *crossover) OnTick(c *strategy.Context, t *engine.Tick) {
	s.last = t.LastPrice
	if s.n == 0 {
		s.fast, s.slow = t.LastPrice, t.LastPrice
	}
	s.n++
	s.fast += (t.LastPrice - s.fast) / 5
	s.slow += (t.LastPrice - s.slow) / 20
	if s.n > 20 {
		s.want = 0
		if s.fast > s.slow {
			s.want = 1
		}
	}
	pos := c.Pos(s.symbol)
	if s.pending == "" && pos != s.want {
		var err error
		if s.want > pos {
			s.pending, err = c.Send(s.symbol, engine.DirectionLong, engine.OffsetOpen, t.AskPrice[0], s.want-pos)
		} else {
			s.pending, err = c.Send(s.symbol, engine.DirectionShort, engine.OffsetCloseToday, t.BidPrice[0], pos-s.want)
		}
		if err != nil {
			c.Logf("order refused: %v", err)
			s.pending = ""
		}
	}
	if time.Since(s.lastReport) > 3*time.Second {
		s.lastReport = time.Now()
		c.Logf("position %g, pnl %.2f, fast %.2f slow %.2f", pos, s.cash+pos*s.last, s.fast, s.slow)
	}
}

func (s *crossover) OnOrder(c *strategy.Context, o *engine.Order) {
	if o.VtOrderID() == s.pending && !o.IsActive() {
		s.pending = ""
		if o.Status == engine.StatusRejected {
			c.Logf("order %s rejected: %s", o.VtOrderID(), o.Reason)
		}
	}
}

func (s *crossover) OnTrade(c *strategy.Context, t *engine.Trade) {
	v := t.Volume * t.Price
	if t.Direction == engine.DirectionLong {
		v = -v
	}
	s.cash += v
	c.Logf("filled %s %g @ %g; position %g", t.Direction, t.Volume, t.Price, c.Pos(s.symbol))
}

func main() {
	name := flag.String("name", "ma1", "the strategy's name (its orders' reference); unique per server")
	addr := flag.String("addr", "tcp://127.0.0.1:2014", "the server: tcp://HOST:PORT or a unix socket path")
	symbol := flag.String("symbol", "rb2601.SHFE", "the contract to trade")
	inline := flag.Bool("inline", false, "run the callbacks on the event reader (lower latency; a slow callback delays every event)")
	wait := flag.String("wait", "block", "how local events are awaited: block, or spin (lowest latency, takes a core)")
	pollUs := flag.Int("poll-us", 0, "poll for call replies this many µs before parking (lower latency, for a core)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	me := engine.NewMainEngine(nil, logger)
	defer me.Close()
	if _, err := me.AddGateway(rpcgateway.Factory(rpcgateway.Options{Logger: logger}), rpcgateway.DefaultName); err != nil {
		log.Fatal(err)
	}
	if err := me.Connect(engine.Setting{rpcgateway.KeyAddress: *addr, rpcgateway.KeyWait: *wait, rpcgateway.KeyPollUs: *pollUs},
		rpcgateway.DefaultName); err != nil {
		log.Fatal(err)
	}
	// Wait for the contract (the gateway connects in the background).
	for {
		if _, ok := me.Contract(*symbol); ok {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	r, err := strategy.Add(me, strategy.Config{Name: *name, Symbols: []string{*symbol}, Gateway: rpcgateway.DefaultName,
		Inline: *inline},
		&crossover{symbol: *symbol}, logger)
	if err != nil {
		log.Fatal(err)
	}
	logger.Info("strategy running", "name", *name, "symbol", *symbol, "addr", *addr)
	select {
	case <-ctx.Done():
	case <-r.Done():
	}
	if err := r.Stop(); err != nil {
		log.Print(err)
	}
}
