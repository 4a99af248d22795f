package rpcgateway_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/internal/proc"
	"github.com/vnrpc/vnrpc/rpcservice"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

// The test binary re-execs itself as a server or client process
// (internal/proc).
func init() {
	proc.Register("server", helperRun(helperServer))
	proc.Register("client", helperRun(helperClient))
}

// methodStep makes the helper server's sim exchange step n times
// (n: 4 bytes, little endian) so tests publish ticks at will.
const methodStep = "test.step"

// methodConnect2 connects the helper server's second gateway (VNRPC_TWO=1).
const methodConnect2 = "test.connect2"

func helperRun(f func() error) func() int {
	return func() int {
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
}

// helperServer: the sim gateway (manual ticks) and the RPC service on the
// socket, segment directory and LAN addresses in its environment; it
// prints "ready SOCKET CALLS" and runs until stdin closes.
func helperServer() error {
	dir := os.Getenv("VNRPC_DIR")
	me := engine.NewMainEngine(nil, quiet())
	defer me.Close()
	setting := engine.Setting{"user_id": "demo", "password": "demo", "seed": 7.0, "tick_rate": 0.0, "capital": 1e6}
	var gws []*sim.Gateway
	if os.Getenv("VNRPC_TWO") == "1" {
		// Two gateways with disjoint contracts: SIM1 the futures, SIM2 the
		// stocks; SIM2 connects only when asked (methodConnect2).
		var futures, stocks []sim.Spec
		for _, sp := range sim.DefaultContracts() {
			if sp.Product == engine.ProductEquity {
				stocks = append(stocks, sp)
			} else {
				futures = append(futures, sp)
			}
		}
		for _, g := range []struct {
			name  string
			specs []sim.Spec
		}{{"SIM1", futures}, {"SIM2", stocks}} {
			gwi, err := me.AddGateway(sim.Factory(sim.Options{Contracts: g.specs}), g.name)
			if err != nil {
				return err
			}
			gws = append(gws, gwi.(*sim.Gateway))
		}
	} else {
		factory := sim.New
		if n, _ := strconv.Atoi(os.Getenv("VNRPC_MANY_CONTRACTS")); n > 0 {
			// A big exchange: the defaults and n option-like contracts.
			specs := sim.DefaultContracts()
			for i := range n {
				specs = append(specs, sim.Spec{Symbol: fmt.Sprintf("IO2512-C-%05d", i), Exchange: engine.ExchangeCFFEX,
					Name: fmt.Sprintf("沪深300指数期权2512认购%d", i), Product: engine.ProductOption, Size: 100,
					Pricetick: 0.2, MinVolume: 1, Price: 100, MarginRatio: 0.15, LimitRatio: 0.1})
			}
			factory = sim.Factory(sim.Options{Contracts: specs})
		}
		gwi, err := me.AddGateway(factory, sim.DefaultName)
		if err != nil {
			return err
		}
		gws = append(gws, gwi.(*sim.Gateway))
	}
	gw := gws[0]
	if err := me.Connect(setting, gw.Name()); err != nil {
		return err
	}
	ringMB := 4
	if os.Getenv("VNRPC_SMALL_RING") == "1" {
		ringMB = 1
	}
	st := rpcservice.Setting{SocketPath: filepath.Join(dir, "sock", "rpc.sock"), SegmentDir: dir, RingMB: ringMB,
		HeartbeatMs: 200, RepAddress: os.Getenv("VNRPC_REP"), PubAddress: os.Getenv("VNRPC_PUB")}
	app, err := me.AddApp(rpcservice.Factory(rpcservice.Options{DataDir: dir, Setting: &st, Logger: quiet()}))
	if err != nil {
		return err
	}
	svc := app.(*rpcservice.Engine)
	if err := svc.Start(); err != nil {
		return err
	}
	svc.Server().HandleRaw(methodStep, func(_ context.Context, args []byte) ([]byte, error) {
		if len(args) != 4 {
			return nil, fmt.Errorf("want 4 bytes")
		}
		for range binary.LittleEndian.Uint32(args) {
			for _, g := range gws {
				if err := g.Step(); err != nil && g == gw {
					return nil, err
				}
			}
		}
		return nil, nil
	})
	svc.Server().HandleRaw(methodConnect2, func(context.Context, []byte) ([]byte, error) {
		if len(gws) < 2 {
			return nil, fmt.Errorf("one gateway only")
		}
		return nil, me.Connect(setting, gws[1].Name())
	})
	sock, calls, events := svc.Server().Addrs()
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	fmt.Println("ready", sock, dash(calls), dash(events))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// helperClient: a main engine with the RPC gateway at VNRPC_ADDR; it
// subscribes rb2601.SHFE, prints "ready" once a tick arrived, then
// "tick" for each later tick, until killed.
func helperClient() error {
	me := engine.NewMainEngine(nil, quiet())
	defer me.Close()
	ticks := make(chan struct{}, 1)
	me.EventEngine().Register(engine.EventTick, func(engine.Event) {
		select {
		case ticks <- struct{}{}:
		default:
		}
	})
	// Subscribing routes through the contract's server gateway: wait for the
	// contract, which the gateway emits once it knows the route.
	contract := make(chan struct{})
	var once sync.Once
	me.EventEngine().Register(engine.EventContract, func(ev engine.Event) {
		if ev.Data.(*engine.Contract).VtSymbol() == "rb2601.SHFE" {
			once.Do(func() { close(contract) })
		}
	})
	if _, err := me.AddGateway(rpcgateway.Factory(rpcgateway.Options{Logger: quiet()}), ""); err != nil {
		return err
	}
	if err := me.Connect(engine.Setting{rpcgateway.KeyAddress: os.Getenv("VNRPC_ADDR")}, rpcgateway.DefaultName); err != nil {
		return err
	}
	select {
	case <-contract:
	case <-time.After(20 * time.Second):
		return fmt.Errorf("no contract rb2601.SHFE in 20 s")
	}
	if err := me.Subscribe(engine.SubscribeRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, rpcgateway.DefaultName); err != nil {
		return err
	}
	fmt.Println("subscribed")
	for range ticks {
		fmt.Println("tick")
	}
	return nil
}

// helper is a helper process; lines it prints are kept for expect.
type helper struct{ *proc.Child }

func spawn(t *testing.T, role string, env ...string) *helper {
	t.Helper()
	return &helper{proc.StartHelper(t, role, proc.Options{Env: env})}
}

// expect waits up to 30 s for a line starting with prefix and returns it.
func (p *helper) expect(t *testing.T, prefix string) string {
	t.Helper()
	return p.MustUntil(t, 30*time.Second, fmt.Sprintf("%q", prefix), func(l string) bool { return strings.HasPrefix(l, prefix) })
}

func (p *helper) kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	_ = p.Wait()
}
