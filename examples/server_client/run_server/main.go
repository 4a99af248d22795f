// Command run_server is vn.py's examples/client_server/run_server.py in
// Go. By default it runs headless (main_terminal): a main engine connected
// to the simulated exchange, whose settings are filled in here, waits for
// the contracts and starts the RPC service on loopback, then runs until
// Ctrl-C. With -ui it runs main_ui: the same engine with the browser
// console, where you connect the exchange and press Start yourself.
//
//	go run ./examples/server_client/run_server
//	go run ./examples/server_client/run_server -ui   # then open the URL it prints
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vnrpc/vnrpc/console"
	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/rpcservice"
)

func main() {
	ui := flag.Bool("ui", false, "run with the browser console (main_ui)")
	addr := flag.String("ui-addr", console.DefaultAddr, "the console's listen address")
	flag.Parse()
	run := mainTerminal
	if *ui {
		run = func() error { return mainUI(*addr) }
	}
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// simSetting is the simulated exchange's connect settings (vn.py fills in
// CTP's here).
var simSetting = engine.Setting{"user_id": "demo", "password": "demo", "seed": 1.0, "tick_rate": 2.0, "capital": 1e6}

// mainUI is vn.py's main_ui: the engine, the exchange gateway and the RPC
// service app, and the console in place of the main window. In the console,
// connect SIM (its settings are filled in), then press Start in the RPC
// service panel.
func mainUI(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	if _, err := me.AddGateway(sim.New, sim.DefaultName); err != nil {
		return err
	}
	if _, err := me.AddApp(rpcservice.Factory(rpcservice.Options{})); err != nil {
		return err
	}
	con, err := console.Start(me, console.Options{Addr: addr, Title: "run_server",
		Settings: map[string]engine.Setting{sim.DefaultName: simSetting}})
	if err != nil {
		return err
	}
	defer con.Close()
	fmt.Printf("console: open %s (connect SIM, then start the RPC service)\n", con.URL())
	<-ctx.Done()
	return nil
}

func mainTerminal() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	me := engine.NewMainEngine(nil, nil)
	defer me.Close()
	// Print the gateway's and the service's logs, as vn.py's process_log_event.
	for _, typ := range []string{engine.EventLog, rpcservice.EventRpcLog} {
		me.EventEngine().Register(typ, func(e engine.Event) {
			l := e.Data.(*engine.Log)
			fmt.Printf("%s\t%s\n", l.Time.Format("15:04:05.000"), l.Msg)
		})
	}
	if _, err := me.AddGateway(sim.New, sim.DefaultName); err != nil {
		return err
	}
	app, err := me.AddApp(rpcservice.Factory(rpcservice.Options{}))
	if err != nil {
		return err
	}
	rpcEngine := app.(*rpcservice.Engine)

	if err := me.Connect(simSetting, sim.DefaultName); err != nil {
		return err
	}
	// vn.py sleeps 10 s here; we wait until the contracts have arrived.
	for deadline := time.Now().Add(10 * time.Second); len(me.AllContracts()) == 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("no contracts from the gateway in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, vt := range []string{"rb2601.SHFE", "IF2512.CFFEX"} {
		sym, ex, _ := engine.ParseVtSymbol(vt)
		if err := me.Subscribe(engine.SubscribeRequest{Symbol: sym, Exchange: ex}, sim.DefaultName); err != nil {
			return err
		}
	}
	st := rpcEngine.Setting()
	st.RepAddress, st.PubAddress = "tcp://127.0.0.1:2014", "tcp://127.0.0.1:4102"
	if err := rpcEngine.StartWith(st); err != nil { // saved to the settings file on success
		return err
	}
	<-ctx.Done()
	return nil
}
