package rpcservice_test

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
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/rpcservice"
	"github.com/vnrpc/vnrpc/shm"
)

// End-to-end tick latency, the lossless rate and the ZeroMQ baselines are
// measured across processes by the benchmark suite:
//
//	vnrpc bench --only ticks,lossless
//
// This file keeps the server's share of a tick in one process.

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// monotonic stamps ticks with CLOCK_MONOTONIC, as the suite's server does.
func monotonic() time.Time { return time.Unix(0, ring.Nanotime()) }

// BenchmarkServerStep: one sim step (one tick of one symbol) on the
// server, including its publication through the service's tap into the
// ring and to the LAN publisher: the server's share of a tick's latency.
func BenchmarkServerStep(b *testing.B) {
	for _, lan := range []bool{false, true} {
		b.Run(fmt.Sprintf("lan=%v", lan), func(b *testing.B) {
			dir, err := shm.MkdirTemp("rpcsvc") // memory-backed, as a real ring's
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(dir)
			me := engine.NewMainEngine(nil, quiet())
			defer me.Close()
			gwi, err := me.AddGateway(sim.Factory(sim.Options{Clock: monotonic}), sim.DefaultName)
			if err != nil {
				b.Fatal(err)
			}
			gw := gwi.(*sim.Gateway)
			if err := me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "seed": 1.0, "tick_rate": 0.0,
				"capital": 1e6}, gw.Name()); err != nil {
				b.Fatal(err)
			}
			if err := me.Subscribe(engine.SubscribeRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, gw.Name()); err != nil {
				b.Fatal(err)
			}
			st := rpcservice.Setting{SocketPath: filepath.Join(dir, "s", "rpc.sock"), SegmentDir: dir, RingMB: 64}
			if lan {
				st.RepAddress, st.PubAddress = "tcp://127.0.0.1:*", "tcp://127.0.0.1:*"
			}
			app, err := me.AddApp(rpcservice.Factory(rpcservice.Options{DataDir: dir, Setting: &st, Logger: quiet()}))
			if err != nil {
				b.Fatal(err)
			}
			if err := app.(*rpcservice.Engine).Start(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = gw.Step()
			}
		})
	}
}
