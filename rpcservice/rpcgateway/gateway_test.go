package rpcgateway_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/internal/proc"
	"github.com/vnrpc/vnrpc/internal/testutil"
	"github.com/vnrpc/vnrpc/rpcservice"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// server is a main engine with the sim gateway (manual ticks) and the RPC
// service on a private socket and segment directory.
type server struct {
	me  *engine.MainEngine
	sim *sim.Gateway
	svc *rpcservice.Engine
	st  rpcservice.Setting
}

func startServer(t *testing.T, dir string, lanAddrs bool) *server {
	t.Helper()
	me := engine.NewMainEngine(nil, quiet())
	gwi, err := me.AddGateway(sim.New, sim.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	gw := gwi.(*sim.Gateway)
	if err := me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "seed": 7.0, "tick_rate": 0.0,
		"capital": 1e6}, gw.Name()); err != nil {
		t.Fatal(err)
	}
	st := rpcservice.Setting{SocketPath: filepath.Join(dir, "sock", "rpc.sock"), SegmentDir: dir, RingMB: 4,
		HeartbeatMs: 200}
	if lanAddrs {
		st.RepAddress, st.PubAddress = "tcp://127.0.0.1:0", "tcp://127.0.0.1:0"
	}
	app, err := me.AddApp(rpcservice.Factory(rpcservice.Options{DataDir: dir, Setting: &st, Logger: quiet()}))
	if err != nil {
		t.Fatal(err)
	}
	svc := app.(*rpcservice.Engine)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{me: me, sim: gw, svc: svc, st: st}
	t.Cleanup(func() { _ = me.Close() })
	return s
}

type client struct {
	me *engine.MainEngine
	gw *rpcgateway.Gateway
}

func startClient(t *testing.T, addr, transport string) *client {
	t.Helper()
	return startClientWith(t, addr, transport, rpcgateway.Options{Logger: testutil.Logger(t)})
}

func startClientWith(t *testing.T, addr, transport string, o rpcgateway.Options) *client {
	t.Helper()
	return start(t, engine.Setting{rpcgateway.KeyAddress: addr, rpcgateway.KeyTransport: transport, rpcgateway.KeyTimeout: 10}, o)
}

// startClientSetting starts a local client with extra settings.
func startClientSetting(t *testing.T, addr string, extra engine.Setting) *client {
	t.Helper()
	s := engine.Setting{rpcgateway.KeyAddress: addr, rpcgateway.KeyTransport: "local", rpcgateway.KeyTimeout: 10}
	for k, v := range extra {
		s[k] = v
	}
	return start(t, s, rpcgateway.Options{Logger: quiet()})
}

func start(t *testing.T, s engine.Setting, o rpcgateway.Options) *client {
	t.Helper()
	me := engine.NewMainEngine(nil, o.Logger)
	gwi, err := me.AddGateway(rpcgateway.Factory(o), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := me.Connect(s, rpcgateway.DefaultName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = me.Close() })
	return &client{me: me, gw: gwi.(*rpcgateway.Gateway)}
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, what, cond)
}

// The client names server objects as the gateway documents: its own
// gateway name, and server-assigned ids prefixed with the server gateway.
func localOrder(o engine.Order, name string) engine.Order {
	o.OrderID, o.GatewayName = o.GatewayName+"."+o.OrderID, name
	o.Datetime = o.Datetime.Round(0).UTC()
	return o
}

func localTrade(t engine.Trade, name string) engine.Trade {
	t.OrderID, t.TradeID, t.GatewayName = t.GatewayName+"."+t.OrderID, t.GatewayName+"."+t.TradeID, name
	t.Datetime = t.Datetime.Round(0).UTC()
	return t
}

func localAccount(a engine.Account, name string) engine.Account {
	a.AccountID, a.GatewayName = a.GatewayName+"."+a.AccountID, name
	return a
}

// sameState compares the client's view with the server's: every order,
// trade, position and account (renamed to the client's gateway), and no
// active order on the client the server does not have.
func sameState(srv *engine.MainEngine, cli *engine.MainEngine, name string) error {
	for _, o := range srv.AllOrders() {
		want := localOrder(*o, name)
		got, ok := cli.Order(want.VtOrderID())
		if !ok || *got != want {
			return fmt.Errorf("order %s: client has %+v, server %+v", want.VtOrderID(), got, want)
		}
	}
	for _, o := range cli.AllActiveOrders() {
		if _, ok := srv.Order(o.OrderID); !ok { // the client's OrderID is the server's vt_orderid
			return fmt.Errorf("client has active order %s the server does not know", o.VtOrderID())
		}
	}
	for _, tr := range srv.AllTrades() {
		want := localTrade(*tr, name)
		got, ok := cli.Trade(want.VtTradeID())
		if !ok || *got != want {
			return fmt.Errorf("trade %s: client has %+v, server %+v", want.VtTradeID(), got, want)
		}
	}
	for _, p := range srv.AllPositions() {
		want := *p
		want.GatewayName = name
		got, ok := cli.Position(want.VtPositionID())
		if !ok || *got != want {
			return fmt.Errorf("position %s: client has %+v, server %+v", want.VtPositionID(), got, want)
		}
	}
	for _, a := range srv.AllAccounts() {
		want := localAccount(*a, name)
		got, ok := cli.Account(want.VtAccountID())
		if !ok || *got != want {
			return fmt.Errorf("account %s: client has %+v, server %+v", want.VtAccountID(), got, want)
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	proc.Main()
	os.Exit(m.Run())
}

// Connect returns at once and the initial queries bring the contracts; an
// order sent through the RPC gateway fills on the server's sim exchange
// and the client's engine ends equal to the server's, over each transport.
func TestTradeThroughGateway(t *testing.T) {
	for _, tr := range []string{"local", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			dir := t.TempDir()
			srv := startServer(t, dir, true)
			sock, calls, _ := srv.svc.Server().Addrs()
			addr := sock
			if tr == "tcp" {
				addr = calls
			}
			cli := startClient(t, addr, tr)
			eventually(t, "contracts on the client", func() error {
				if n, want := len(cli.me.AllContracts()), len(srv.me.AllContracts()); n != want || n == 0 {
					return fmt.Errorf("%d contracts, want %d", n, want)
				}
				return nil
			})
			if got, ok := cli.gw.Transport(); !ok || got.String() != tr {
				t.Fatalf("transport %v (connected %v), want %s", got, ok, tr)
			}
			vt := "rb2601.SHFE"
			if err := cli.me.Subscribe(engine.SubscribeRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, rpcgateway.DefaultName); err != nil {
				t.Fatal(err)
			}
			srv.sim.Step()
			eventually(t, "a tick on the client", func() error {
				if _, ok := cli.me.Tick(vt); !ok {
					srv.sim.Step()
					return fmt.Errorf("no tick for %s", vt)
				}
				return nil
			})
			bk, err := srv.sim.Snapshot(vt)
			if err != nil {
				t.Fatal(err)
			}
			id, err := cli.me.SendOrder(engine.OrderRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
				Direction: engine.DirectionLong, Type: engine.OrderTypeLimit, Offset: engine.OffsetOpen,
				Price: bk.AskPrice[0], Volume: 1}, rpcgateway.DefaultName)
			if err != nil {
				t.Fatal(err)
			}
			if want := rpcgateway.DefaultName + "." + sim.DefaultName + "."; len(id) <= len(want) || id[:len(want)] != want {
				t.Fatalf("vt_orderid %q is not the client gateway's name and the server's vt_orderid", id)
			}
			eventually(t, "the fill on the client", func() error {
				o, ok := cli.me.Order(id)
				if !ok || o.Status != engine.StatusAllTraded {
					return fmt.Errorf("order %s: %+v", id, o)
				}
				return sameState(srv.me, cli.me, rpcgateway.DefaultName)
			})
			// A resting order, then its cancel through the gateway.
			id2, err := cli.me.SendOrder(engine.OrderRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
				Direction: engine.DirectionLong, Type: engine.OrderTypeLimit, Offset: engine.OffsetOpen,
				Price: bk.BidPrice[4], Volume: 1}, rpcgateway.DefaultName)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the resting order", func() error {
				if o, ok := cli.me.Order(id2); !ok || !o.IsActive() {
					return fmt.Errorf("order %s: %+v", id2, o)
				}
				return nil
			})
			o, _ := cli.me.Order(id2)
			if err := cli.me.CancelOrder(o.CancelRequest(), rpcgateway.DefaultName); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the cancel", func() error {
				if o, ok := cli.me.Order(id2); !ok || o.Status != engine.StatusCancelled {
					return fmt.Errorf("order %s: %+v", id2, o)
				}
				return sameState(srv.me, cli.me, rpcgateway.DefaultName)
			})
			// An unknown symbol is a clear error, not a silent "".
			if _, err := cli.me.SendOrder(engine.OrderRequest{Symbol: "nope", Exchange: engine.ExchangeSHFE,
				Direction: engine.DirectionLong, Type: engine.OrderTypeLimit, Price: 1, Volume: 1}, rpcgateway.DefaultName); err == nil {
				t.Fatal("an order for an unknown symbol was accepted")
			}
		})
	}
}

// Connect returns at once with no server there, and Close stops the
// background dial at once rather than after its timeout.
func TestCloseWhileConnecting(t *testing.T) {
	me := engine.NewMainEngine(nil, quiet())
	gwi, err := me.AddGateway(rpcgateway.Factory(rpcgateway.Options{Logger: quiet()}), "")
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan error, 1)
	go func() {
		connected <- me.Connect(engine.Setting{rpcgateway.KeyAddress: "tcp://127.0.0.1:1"}, rpcgateway.DefaultName)
	}()
	select {
	case err := <-connected:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Connect blocked with no server")
	}
	closed := make(chan struct{})
	go func() { _ = gwi.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second): // the dial's own timeout is 5 s
		t.Fatal("Close waited for the dial to time out")
	}
	_ = me.Close()
}
