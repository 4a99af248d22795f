// Command run_client is vn.py's examples/client_server/run_client.py in
// Go, headless: a main engine whose only gateway is the RPC gateway,
// connected to run_server, printing logs, trades and the account as they
// arrive, until Ctrl-C. On the server's host it uses shared memory.
//
//	go run ./examples/server_client/run_client [tcp://127.0.0.1:2014]
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

func main() {
	addr := "tcp://127.0.0.1:2014"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	ev := me.EventEngine()
	ev.Register(engine.EventLog, func(e engine.Event) {
		l := e.Data.(*engine.Log)
		fmt.Printf("%s\t%s\n", l.Time.Format("15:04:05.000"), l.Msg)
	})
	ev.Register(rpcgateway.EventState, func(e engine.Event) {
		s := e.Data.(*rpcgateway.State)
		fmt.Printf("state\t%s %s %s\n", s.State, s.Transport, s.Reason)
	})
	ev.Register(engine.EventTick, func(e engine.Event) {
		t := e.Data.(*engine.Tick)
		fmt.Printf("tick\t%s %g (%g/%g)\n", t.VtSymbol(), t.LastPrice, t.BidPrice[0], t.AskPrice[0])
	})
	ev.Register(engine.EventTrade, func(e engine.Event) {
		t := e.Data.(*engine.Trade)
		fmt.Printf("trade\t%s %s %s %g@%g\n", t.VtTradeID(), t.VtSymbol(), t.Direction, t.Volume, t.Price)
	})
	ev.Register(engine.EventAccount, func(e engine.Event) {
		a := e.Data.(*engine.Account)
		fmt.Printf("account\t%s balance %.2f available %.2f\n", a.VtAccountID(), a.Balance, a.Available())
	})
	if _, err := me.AddGateway(rpcgateway.Factory(rpcgateway.Options{}), rpcgateway.DefaultName); err != nil {
		log.Fatal(err)
	}
	// Connect returns at once; the gateway connects in the background.
	if err := me.Connect(engine.Setting{rpcgateway.KeyAddress: addr}, rpcgateway.DefaultName); err != nil {
		log.Fatal(err)
	}
	<-ctx.Done()
}
