package rpcgateway_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/internal/testutil"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// The initial sync goes on past a query that fails: a server whose
// get_all_orders fails twice still gets every later query (the trades
// among them), and each failure is reported in the gateway's log.
func TestSyncRetriesAFailedQuery(t *testing.T) {
	dir := t.TempDir()
	srv := rpc.NewServer(rpc.ServerOptions{SocketPath: filepath.Join(dir, "s", "rpc.sock"), SegmentDir: dir,
		RingCapacity: 1 << 20, Logger: quiet()})
	empty, _ := wire.EncodeList[engine.Contract](nil)
	var orderFailures atomic.Int32
	for _, m := range []string{wire.MethodGetAllContracts, wire.MethodGetAllAccounts, wire.MethodGetAllPositions,
		wire.MethodGetAllQuotes, wire.MethodGetAllActiveOrders} {
		srv.HandleRaw(m, func(context.Context, []byte) ([]byte, error) { return empty, nil })
	}
	srv.HandleRaw(wire.MethodGetAllOrders, func(context.Context, []byte) ([]byte, error) {
		if orderFailures.Add(1) <= 2 {
			return nil, errors.New("the OMS is busy")
		}
		return empty, nil
	})
	trades, _ := wire.EncodeList([]*engine.Trade{{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		OrderID: "1", TradeID: "7", Direction: engine.DirectionLong, Offset: engine.OffsetOpen, Price: 3200, Volume: 1}})
	srv.HandleRaw(wire.MethodGetAllTrades, func(context.Context, []byte) ([]byte, error) { return trades, nil })
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	var mu sync.Mutex
	var logs []string
	me := engine.NewMainEngine(nil, quiet())
	t.Cleanup(func() { _ = me.Close() })
	me.EventEngine().Register(engine.EventLog, func(e engine.Event) { // before connecting: every log is seen
		mu.Lock()
		logs = append(logs, e.Data.(*engine.Log).Msg)
		mu.Unlock()
	})
	if _, err := me.AddGateway(rpcgateway.Factory(rpcgateway.Options{Logger: quiet()}), ""); err != nil {
		t.Fatal(err)
	}
	socket, _, _ := srv.Addrs()
	if err := me.Connect(engine.Setting{rpcgateway.KeyAddress: socket, rpcgateway.KeyTransport: "local"}, rpcgateway.DefaultName); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the trade queried after the failed orders", func() error {
		if _, ok := me.Trade("RPC.SIM.7"); !ok {
			return errors.New("no trade RPC.SIM.7")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	failures := 0
	for _, l := range logs {
		if strings.Contains(l, "query orders failed") && strings.Contains(l, "the OMS is busy") && strings.Contains(l, "trying again") {
			failures++
		}
	}
	if failures != 2 {
		t.Errorf("%d reported failures of the orders query, want 2; logs:\n%s", failures, strings.Join(logs, "\n"))
	}
}
