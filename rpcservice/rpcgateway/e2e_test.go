package rpcgateway_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// remote is a server process and an observer connection to it.
type remote struct {
	p                    *helper
	sock, calls, events  string
	obs                  *rpc.Client
	dir, rep, pub, small string
}

func startRemote(t *testing.T, dir, rep, pub string, small bool, env ...string) *remote {
	t.Helper()
	r := &remote{dir: dir, rep: rep, pub: pub}
	if small {
		r.small = "1"
	}
	r.p = spawn(t, "server", append([]string{"VNRPC_DIR=" + dir, "VNRPC_REP=" + rep, "VNRPC_PUB=" + pub,
		"VNRPC_SMALL_RING=" + r.small}, env...)...)
	f := strings.Fields(r.p.expect(t, "ready"))
	r.sock, r.calls, r.events = f[1], strings.Trim(f[2], "-"), strings.Trim(f[3], "-")
	obs, err := rpc.Dial(context.Background(), rpc.ClientOptions{Addr: r.sock, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r.obs = obs
	t.Cleanup(func() { _ = obs.Close() })
	return r
}

// restart kills the server with SIGKILL and starts a new one on the same
// socket and ports.
func (r *remote) restart(t *testing.T) *remote {
	t.Helper()
	r.p.kill()
	_ = r.obs.Close()
	return startRemote(t, r.dir, r.calls, r.events, r.small == "1")
}

func (r *remote) call(t *testing.T, method string, args []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.obs.CallRaw(ctx, method, args)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return res
}

func (r *remote) step(t *testing.T, n int) {
	t.Helper()
	r.call(t, methodStep, binary.LittleEndian.AppendUint32(nil, uint32(n)))
}

// state is the server's engine as its clients can query it.
type state struct {
	orders    []*engine.Order
	trades    []*engine.Trade
	positions []*engine.Position
	accounts  []*engine.Account
}

func (r *remote) state(t *testing.T) (state, error) {
	var s state
	var err error
	noArgs, _ := wire.EncodeArgs()
	get := func(method string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var res []byte
		if err == nil {
			res, err = r.obs.CallRaw(ctx, method, noArgs)
		}
		return res
	}
	if b := get(wire.MethodGetAllOrders); err == nil {
		s.orders, err = wire.DecodeList[engine.Order](b)
	}
	if b := get(wire.MethodGetAllTrades); err == nil {
		s.trades, err = wire.DecodeList[engine.Trade](b)
	}
	if b := get(wire.MethodGetAllPositions); err == nil {
		s.positions, err = wire.DecodeList[engine.Position](b)
	}
	if b := get(wire.MethodGetAllAccounts); err == nil {
		s.accounts, err = wire.DecodeList[engine.Account](b)
	}
	return s, err
}

// equal checks a client engine against the server: every server object,
// renamed to the client's gateway, is in the client's engine, and the
// client has no active order the server does not know.
func (r *remote) equal(t *testing.T, cli *engine.MainEngine) error {
	s, err := r.state(t)
	if err != nil {
		return err
	}
	name := rpcgateway.DefaultName
	known := map[string]bool{}
	for _, so := range s.orders {
		o := localOrder(*so, name)
		known[o.OrderID] = true
		if got, ok := cli.Order(o.VtOrderID()); !ok || *got != o {
			return fmt.Errorf("order %s: client %+v, server %+v", o.VtOrderID(), got, o)
		}
	}
	for _, o := range cli.AllActiveOrders() {
		if !known[o.OrderID] {
			return fmt.Errorf("client has active order %s the server does not know", o.VtOrderID())
		}
	}
	for _, st := range s.trades {
		tr := localTrade(*st, name)
		if got, ok := cli.Trade(tr.VtTradeID()); !ok || *got != tr {
			return fmt.Errorf("trade %s: client %+v, server %+v", tr.VtTradeID(), got, tr)
		}
	}
	pos := map[string]bool{}
	for _, p := range s.positions {
		p.GatewayName = name
		pos[p.VtPositionID()] = true
		if got, ok := cli.Position(p.VtPositionID()); !ok || *got != *p {
			return fmt.Errorf("position %s: client %+v, server %+v", p.VtPositionID(), got, p)
		}
	}
	for _, p := range cli.AllPositions() {
		if !pos[p.VtPositionID()] && (p.Volume != 0 || p.Frozen != 0) {
			return fmt.Errorf("client has position %s (%g) the server does not", p.VtPositionID(), p.Volume)
		}
	}
	for _, sa := range s.accounts {
		a := localAccount(*sa, name)
		if got, ok := cli.Account(a.VtAccountID()); !ok || *got != a {
			return fmt.Errorf("account %s: client %+v, server %+v", a.VtAccountID(), got, a)
		}
	}
	return nil
}

// buy sends a marketable (or, with rest, a resting) limit buy of rb2601
// from a client at its latest tick, once it has one.
func buy(t *testing.T, r *remote, c *client, rest bool) string {
	t.Helper()
	var tk *engine.Tick
	eventually(t, "a tick", func() error {
		var ok bool
		if tk, ok = c.me.Tick("rb2601.SHFE"); !ok {
			r.step(t, 1)
			return fmt.Errorf("no tick yet")
		}
		return nil
	})
	price := tk.AskPrice[0]
	if rest {
		price = tk.BidPrice[4]
	}
	id, err := c.me.SendOrder(engine.OrderRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Direction: engine.DirectionLong, Type: engine.OrderTypeLimit, Offset: engine.OffsetOpen,
		Price: price, Volume: 1}, rpcgateway.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func subscribe(t *testing.T, c *client) {
	t.Helper()
	eventually(t, "subscribe", func() error {
		return c.me.Subscribe(engine.SubscribeRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, rpcgateway.DefaultName)
	})
}

// A server process and three clients (two local, one forced to tcp):
// orders from each fill on the sim exchange and every client ends equal to
// the server. Then the server is killed with SIGKILL and restarted: every
// client reconnects, resyncs and ends equal to the new server (a resting
// order the new server never knew is cancelled), and trades again.
func TestE2EThreeClientsAndServerRestart(t *testing.T) {
	r := startRemote(t, t.TempDir(), "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", false)
	clients := []*client{startClient(t, r.sock, "local"), startClient(t, r.calls, "auto"), startClient(t, r.calls, "tcp")}
	for i, want := range []string{"local", "local", "tcp"} {
		eventually(t, "connected", func() error {
			if got, ok := clients[i].gw.Transport(); !ok || got.String() != want {
				return fmt.Errorf("client %d transport %v (connected %v), want %s", i, got, ok, want)
			}
			return nil
		})
		subscribe(t, clients[i])
	}
	var resting string
	for i, c := range clients {
		buy(t, r, c, false)
		if i == 0 {
			resting = buy(t, r, c, true)
		}
	}
	for i, c := range clients {
		eventually(t, fmt.Sprintf("client %d equal to the server", i), func() error { return r.equal(t, c.me) })
	}
	if o, _ := clients[1].me.Order(resting); o == nil || !o.IsActive() {
		t.Fatalf("resting order %s not active on another client: %+v", resting, o)
	}

	epochs := make([]uint64, len(clients))
	for i, c := range clients {
		epochs[i] = c.gw.Client().Epoch()
	}
	r = r.restart(t)
	for i, c := range clients {
		eventually(t, fmt.Sprintf("client %d reconnected and equal to the new server", i), func() error {
			if e := c.gw.Client().Epoch(); e == epochs[i] || e == 0 {
				return fmt.Errorf("epoch %x", e)
			}
			return r.equal(t, c.me)
		})
		if o, ok := c.me.Order(resting); !ok || o.Status != engine.StatusCancelled {
			t.Errorf("client %d: the resting order the new server never knew: %+v", i, o)
		}
	}
	buy(t, r, clients[2], false) // tcp, after the restart (subscriptions renewed)
	for i, c := range clients {
		eventually(t, fmt.Sprintf("client %d equal after trading again", i), func() error { return r.equal(t, c.me) })
	}
}

// A client whose event reader stalls until the ring laps it misses
// another client's order and trade, resyncs, and ends equal to the server.
func TestE2ELappedClientResyncs(t *testing.T) {
	r := startRemote(t, t.TempDir(), "", "", true)
	stall := make(chan struct{})
	stalled := make(chan struct{}, 1)
	var once bool
	lapped := startClientWith(t, r.sock, "local", rpcgateway.Options{Logger: quiet(), OnRawEvent: func(uint32, int64) {
		if !once {
			once = true
			stalled <- struct{}{}
			<-stall
		}
	}})
	var release sync.Once
	resume := func() { release.Do(func() { close(stall) }) }
	t.Cleanup(resume) // runs before the client's Close, even if the test fails early
	other := startClient(t, r.sock, "local")
	subscribe(t, other)
	subscribe(t, lapped)
	r.step(t, 1) // the lapped client's reader takes this event and stalls
	select {
	case <-stalled:
	case <-time.After(20 * time.Second):
		t.Fatal("the lapped client's reader never took the first event")
	}
	buy(t, r, other, false)
	eventually(t, "the other client's fill", func() error { return r.equal(t, other.me) })
	r.step(t, 6000) // ~2.4 MB of ticks through a 1 MiB ring
	resume()
	eventually(t, "the lapped client equal to the server", func() error {
		if st := lapped.gw.Client().Status(); st.Laps == 0 {
			return fmt.Errorf("not lapped yet: %+v", st)
		}
		return r.equal(t, lapped.me)
	})
}

// A client process killed mid-stream leaves the server and the other
// clients unaffected, and the server's client stats drop it.
func TestE2EKilledClient(t *testing.T) {
	r := startRemote(t, t.TempDir(), "", "", false)
	stay := startClient(t, r.sock, "local")
	subscribe(t, stay)
	victim := spawn(t, "client", "VNRPC_ADDR="+r.sock)
	victim.expect(t, "subscribed")
	r.step(t, 5)
	victim.expect(t, "tick")
	clients := func() int {
		var st wire.Status
		noArgs, _ := wire.EncodeArgs()
		if err := msgpack.Unmarshal(r.call(t, wire.MethodStatus, noArgs), &st); err != nil {
			t.Fatal(err)
		}
		return st.Clients
	}
	before := clients()
	if before < 3 { // observer, stay, victim
		t.Fatalf("%d clients in the server's stats", before)
	}
	victim.kill()
	eventually(t, "the server dropping the killed client", func() error {
		if n := clients(); n != before-1 {
			return fmt.Errorf("%d clients, want %d", n, before-1)
		}
		return nil
	})
	buy(t, r, stay, false)
	eventually(t, "the remaining client trading", func() error { return r.equal(t, stay.me) })
}

// An order whose deadline passes while the server process is stopped is
// never executed once it runs again; the next order is.
func TestE2EExpiredOrderNeverExecutes(t *testing.T) {
	r := startRemote(t, t.TempDir(), "", "", false)
	c := startClientWith(t, r.sock, "local", rpcgateway.Options{Logger: quiet()})
	subscribe(t, c)
	buy(t, r, c, false)
	eventually(t, "the first fill", func() error { return r.equal(t, c.me) })
	before, err := r.state(t)
	if err != nil {
		t.Fatal(err)
	}
	short := startClientSetting(t, r.sock, engine.Setting{rpcgateway.KeyTimeout: 0.3})
	subscribe(t, short)
	eventually(t, "a tick on the short-timeout client", func() error {
		if _, ok := short.me.Tick("rb2601.SHFE"); !ok {
			r.step(t, 1)
			return fmt.Errorf("no tick")
		}
		return nil
	})
	if err := r.p.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The signal is delivered asynchronously: wait until the kernel shows
	// the process stopped.
	eventually(t, "the server process stopped", func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.p.Cmd.Process.Pid))
		if err != nil {
			return err
		}
		if i := strings.LastIndexByte(string(b), ')'); i < 0 || len(b) < i+3 || b[i+2] != 'T' {
			return fmt.Errorf("state: %.40s", b[max(0, i):])
		}
		return nil
	})
	_, err = short.me.SendOrder(engine.OrderRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Direction: engine.DirectionLong, Type: engine.OrderTypeLimit, Offset: engine.OffsetOpen, Price: 1, Volume: 1},
		rpcgateway.DefaultName)
	if cerr := r.p.Cmd.Process.Signal(syscall.SIGCONT); cerr != nil {
		t.Fatal(cerr)
	}
	if err == nil {
		t.Fatal("an order sent to a stopped server succeeded")
	}
	// The next order through the same connection is read after the late
	// one; it executes, and the late one never does.
	id := buy(t, r, short, true)
	eventually(t, "the next order", func() error {
		if o, ok := short.me.Order(id); !ok || !o.IsActive() {
			return fmt.Errorf("order %s: %+v", id, o)
		}
		return nil
	})
	// The client sees the order through the ring, which a tap feeds before
	// the server's own order book (on its dispatcher) has it: wait for it.
	var after state
	eventually(t, "the good order in the server's book", func() error {
		var err error
		if after, err = r.state(t); err != nil {
			return err
		}
		if len(after.orders) != len(before.orders)+1 {
			return fmt.Errorf("%d orders on the server after one late and one good order, had %d", len(after.orders), len(before.orders))
		}
		return nil
	})
	for _, o := range after.orders {
		if o.Price == 1 {
			t.Fatalf("the late order ran: %+v", o)
		}
	}
}

// Two gateways behind one server, with disjoint contracts, the second
// connected after the client: subscribe, send and cancel route to the
// right one by the symbol map (which follows the contracts pushed later),
// and their order ids, both starting at 1, do not collide on the client.
func TestE2ETwoGatewaysBehindOneServer(t *testing.T) {
	r := startRemote(t, t.TempDir(), "", "", false, "VNRPC_TWO=1")
	c := startClient(t, r.sock, "local")
	subscribe(t, c) // rb2601.SHFE, on SIM1
	fut := buy(t, r, c, true)
	if want := "RPC.SIM1."; !strings.HasPrefix(fut, want) {
		t.Fatalf("future order id %q, want %s…", fut, want)
	}
	const stock = "600519.SSE"
	if _, ok := c.me.Contract(stock); ok {
		t.Fatal("the stock is listed before its gateway connected")
	}
	noArgs, _ := wire.EncodeArgs()
	r.call(t, methodConnect2, noArgs)
	eventually(t, "the second gateway's contract on the client", func() error {
		if _, ok := c.me.Contract(stock); !ok {
			return fmt.Errorf("no %s", stock)
		}
		return nil
	})
	if err := c.me.Subscribe(engine.SubscribeRequest{Symbol: "600519", Exchange: engine.ExchangeSSE}, rpcgateway.DefaultName); err != nil {
		t.Fatal(err)
	}
	var tk *engine.Tick
	eventually(t, "a stock tick", func() error {
		var ok bool
		if tk, ok = c.me.Tick(stock); !ok {
			r.step(t, 1)
			return fmt.Errorf("no tick")
		}
		return nil
	})
	id, err := c.me.SendOrder(engine.OrderRequest{Symbol: "600519", Exchange: engine.ExchangeSSE,
		Direction: engine.DirectionLong, Type: engine.OrderTypeLimit, Offset: engine.OffsetNone,
		Price: tk.BidPrice[4], Volume: 100}, rpcgateway.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if want := "RPC.SIM2."; !strings.HasPrefix(id, want) || id == fut {
		t.Fatalf("stock order id %q, want %s… and not the future's %s", id, want, fut)
	}
	eventually(t, "both orders resting on the client", func() error {
		for _, vt := range []string{fut, id} {
			if o, ok := c.me.Order(vt); !ok || !o.IsActive() {
				return fmt.Errorf("order %s: %+v", vt, o)
			}
		}
		return nil
	})
	for _, vt := range []string{id, fut} {
		o, _ := c.me.Order(vt)
		if err := c.me.CancelOrder(o.CancelRequest(), rpcgateway.DefaultName); err != nil {
			t.Fatalf("cancel %s: %v", vt, err)
		}
	}
	eventually(t, "both cancels, and the client equal to the server", func() error {
		for _, vt := range []string{fut, id} {
			if o, ok := c.me.Order(vt); !ok || o.Status != engine.StatusCancelled {
				return fmt.Errorf("order %s: %+v", vt, o)
			}
		}
		return r.equal(t, c.me)
	})
	s, err := r.state(t)
	if err != nil {
		t.Fatal(err)
	}
	gws := map[string]int{}
	for _, o := range s.orders {
		gws[o.GatewayName]++
	}
	if gws["SIM1"] != 1 || gws["SIM2"] != 1 {
		t.Errorf("orders by server gateway: %v, want one on each", gws)
	}
}

// TestE2EBigExchange: every contract of a big exchange is one reply of
// get_all_contracts, some 7 MB here, beyond the 4 MiB a request may be;
// clients load them all over either transport.
func TestE2EBigExchange(t *testing.T) {
	const n = 20000
	r := startRemote(t, t.TempDir(), "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", false, fmt.Sprintf("VNRPC_MANY_CONTRACTS=%d", n))
	want := n + len(sim.DefaultContracts())
	for _, transport := range []string{"local", "tcp"} {
		addr := r.sock
		if transport == "tcp" {
			addr = r.calls
		}
		c := startClient(t, addr, transport)
		eventually(t, transport+": every contract", func() error {
			if got := len(c.me.AllContracts()); got != want {
				return fmt.Errorf("%d contracts of %d", got, want)
			}
			return nil
		})
	}
}
