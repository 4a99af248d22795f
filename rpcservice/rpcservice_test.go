package rpcservice_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/internal/callrt"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// A missing settings file is created with the defaults; a successful start
// saves the settings it ran with; a broken file is an error naming it.
func TestSettingsFile(t *testing.T) {
	dir := t.TempDir()
	st, err := rpcservice.LoadSetting(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st != rpcservice.DefaultSetting() {
		t.Fatalf("defaults: %+v", st)
	}
	path := filepath.Join(dir, rpcservice.SettingFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("settings file not created 0600: %v %v", fi, err)
	}
	me := engine.NewMainEngine(nil, quiet())
	defer me.Close()
	app, err := me.AddApp(rpcservice.Factory(rpcservice.Options{DataDir: dir, Logger: quiet()}))
	if err != nil {
		t.Fatal(err)
	}
	svc := app.(*rpcservice.Engine)
	run := rpcservice.Setting{SocketPath: filepath.Join(dir, "s", "rpc.sock"), SegmentDir: dir, RingMB: 1}
	if err := svc.StartWith(run); err != nil {
		t.Fatal(err)
	}
	if got, err := rpcservice.LoadSetting(dir); err != nil || got != run {
		t.Fatalf("saved settings %+v (%v), want %+v", got, err, run)
	}
	if err := os.WriteFile(path, []byte("{nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rpcservice.LoadSetting(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("broken file: %v", err)
	}
}

// logs collects eRpcLog messages.
type logs struct {
	mu   sync.Mutex
	msgs []string
	ch   chan struct{}
}

func (l *logs) has(t *testing.T, sub string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		all := strings.Join(l.msgs, "\n")
		l.mu.Unlock()
		if strings.Contains(all, sub) {
			return
		}
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("no eRpcLog %q in:\n%s", sub, all)
		}
	}
}

func newService(t *testing.T) (*engine.MainEngine, *rpcservice.Engine, *logs, rpcservice.Setting) {
	t.Helper()
	dir := t.TempDir()
	me := engine.NewMainEngine(nil, quiet())
	t.Cleanup(func() { _ = me.Close() })
	l := &logs{ch: make(chan struct{}, 1)}
	me.EventEngine().Register(rpcservice.EventRpcLog, func(e engine.Event) {
		l.mu.Lock()
		l.msgs = append(l.msgs, e.Data.(*engine.Log).Msg)
		l.mu.Unlock()
		select {
		case l.ch <- struct{}{}:
		default:
		}
	})
	st := rpcservice.Setting{SocketPath: filepath.Join(dir, "s", "rpc.sock"), SegmentDir: dir, RingMB: 1}
	app, err := me.AddApp(rpcservice.Factory(rpcservice.Options{DataDir: dir, Setting: &st, Logger: quiet()}))
	if err != nil {
		t.Fatal(err)
	}
	return me, app.(*rpcservice.Engine), l, st
}

// Start, stop and start again in one process, with vn.py's log messages
// (in English) for each step and for the refused ones.
func TestStartStopStart(t *testing.T) {
	_, svc, l, st := newService(t)
	if err := svc.Stop(); err == nil {
		t.Fatal("stopping a service that never started succeeded")
	}
	l.has(t, "RPC service is not running")
	var epochs []uint64
	for range 2 {
		if err := svc.Start(); err != nil {
			t.Fatal(err)
		}
		l.has(t, "RPC service started")
		if err := svc.Start(); err == nil {
			t.Fatal("a second start succeeded")
		}
		l.has(t, "RPC service is already running")
		c, err := rpc.Dial(context.Background(), rpc.ClientOptions{Addr: st.SocketPath, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		args, _ := wire.EncodeArgs()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := c.CallRaw(ctx, wire.MethodStatus, args)
		cancel()
		var status wire.Status
		if err == nil {
			err = msgpack.Unmarshal(res, &status)
		}
		if err != nil {
			t.Fatal(err)
		}
		epochs = append(epochs, status.Epoch)
		_ = c.Close()
		if err := svc.Stop(); err != nil {
			t.Fatal(err)
		}
		l.has(t, "RPC service stopped")
	}
	if epochs[0] == epochs[1] || epochs[0] == 0 {
		t.Errorf("epochs %x: want two different ones", epochs)
	}
}

// An event whose data cannot be encoded is logged and skipped: the next
// event is published, and the engine's dispatch goes on.
func TestUnencodableEventIsSkipped(t *testing.T) {
	me, svc, _, st := newService(t)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	got := make(chan engine.Event, 16)
	c, err := rpc.Dial(context.Background(), rpc.ClientOptions{Addr: st.SocketPath, Logger: quiet(),
		OnEvent: func(e rpc.Event) {
			if e.Type == wire.TypeOther {
				if ev, err := wire.DecodeEvent(e.Type, e.Payload); err == nil {
					got <- ev
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	handled := make(chan string, 16)
	me.EventEngine().Register("eCustom", func(e engine.Event) { handled <- e.Type })
	me.EventEngine().Put(engine.Event{Type: "eCustom", Data: make(chan int)}) // msgpack cannot encode a channel
	me.EventEngine().Put(engine.Event{Type: "eCustom", Data: map[string]int{"ok": 1}})
	for range 2 {
		select {
		case <-handled:
		case <-time.After(10 * time.Second):
			t.Fatal("the engine stopped dispatching")
		}
	}
	select {
	case ev := <-got:
		m, ok := ev.Data.(map[string]any)
		if ev.Type != "eCustom" || !ok || m["ok"] == nil {
			t.Fatalf("published %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the encodable event was not published")
	}
	select {
	case ev := <-got:
		t.Fatalf("a second event was published: %+v", ev)
	default:
	}
}

// Hostile or wrong calls get clear errors and change nothing: arguments
// that do not decode are bad requests, an unknown gateway is named, an
// unknown id is nil, an unknown method is reported as such.
func TestBadCalls(t *testing.T) {
	me, svc, _, st := newService(t)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := rpc.Dial(context.Background(), rpc.ClientOptions{Addr: st.SocketPath, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func(method string, args []byte) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.CallRaw(ctx, method, args)
	}
	code := func(err error) rpc.Code {
		var re *rpc.RemoteError
		if errors.As(err, &re) {
			return re.Code
		}
		return -1
	}
	for _, garbage := range [][]byte{nil, {0xc1}, {0x92, 0xa1, 'x'}, []byte("not msgpack at all")} {
		if _, err := call(wire.MethodSendOrder, garbage); code(err) != rpc.CodeBadRequest {
			t.Errorf("send_order(%x): %v, want a bad request", garbage, err)
		}
	}
	args, _ := wire.EncodeArgs(&engine.OrderRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Direction: engine.DirectionLong, Type: engine.OrderTypeLimit, Price: 1, Volume: 1}, "NOPE")
	if _, err := call(wire.MethodSendOrder, args); code(err) != rpc.CodeApp || !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("send_order to an unknown gateway: %v", err)
	}
	idArgs, _ := wire.EncodeArgs("NOPE.1")
	res, err := call(wire.MethodGetOrder, idArgs)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := wire.DecodeOne[engine.Order](res); err != nil || o != nil {
		t.Errorf("get_order of an unknown id: %+v %v", o, err)
	}
	if _, err := call("no_such_method", nil); code(err) != rpc.CodeUnknownMethod {
		t.Errorf("unknown method: %v", err)
	}
	if n := len(me.AllOrders()); n != 0 {
		t.Errorf("%d orders after bad calls", n)
	}
}

// Every string a client sends has a bound (wire.Max*): a longer one is a
// bad request that reaches no gateway and leaves nothing in the OMS.
func TestStringBounds(t *testing.T) {
	me, svc, _, st := newService(t)
	if _, err := me.AddGateway(sim.New, ""); err != nil {
		t.Fatal(err)
	}
	if err := me.Connect(engine.Setting{"tick_rate": 0}, "SIM"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := rpc.Dial(context.Background(), rpc.ClientOptions{Addr: st.SocketPath, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	long := func(n int) string { return strings.Repeat("x", n) }
	order := func(symbol, reference, gw string) []byte {
		b, _ := wire.EncodeArgs(&engine.OrderRequest{Symbol: symbol, Exchange: engine.ExchangeSHFE, Direction: engine.DirectionLong,
			Offset: engine.OffsetOpen, Type: engine.OrderTypeLimit, Price: 3200, Volume: 1, Reference: reference}, gw)
		return b
	}
	cancelArgs, _ := wire.EncodeArgs(&engine.CancelRequest{OrderID: long(wire.MaxIDLen + 1), Symbol: "rb2601",
		Exchange: engine.ExchangeSHFE}, "SIM")
	subArgs, _ := wire.EncodeArgs(&engine.SubscribeRequest{Symbol: long(wire.MaxSymbolLen + 1), Exchange: engine.ExchangeSHFE}, "SIM")
	idArgs, _ := wire.EncodeArgs(long(wire.MaxVtIDLen + 1))
	for _, tc := range []struct {
		name, method, field string
		args                []byte
	}{
		{"a long symbol", wire.MethodSendOrder, "symbol", order(long(wire.MaxSymbolLen+1), "", "SIM")},
		{"a 3.9 MiB symbol", wire.MethodSendOrder, "symbol", order(long(3900<<10), "", "SIM")},
		{"a long reference", wire.MethodSendOrder, "reference", order("rb2601", long(wire.MaxReferenceLen+1), "SIM")},
		{"a long gateway name", wire.MethodSendOrder, "gateway name", order("rb2601", "", long(wire.MaxSymbolLen+1))},
		{"a long order id", wire.MethodCancelOrder, "orderid", cancelArgs},
		{"a long subscription", wire.MethodSubscribe, "symbol", subArgs},
		{"a long vt id", wire.MethodGetOrder, "id", idArgs},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.CallRaw(ctx, tc.method, tc.args)
		cancel()
		var re *rpc.RemoteError
		if !errors.As(err, &re) || re.Code != rpc.CodeBadRequest || !strings.Contains(re.Msg, tc.field) {
			t.Errorf("%s: %v, want a bad request naming %s", tc.name, err, tc.field)
		}
	}
	// At the bounds, an order goes through.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.CallRaw(ctx, wire.MethodSendOrder, order("rb2601", long(wire.MaxReferenceLen), "SIM")); err != nil {
		t.Fatalf("an order at the bounds: %v", err)
	}
	if err := me.EventEngine().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(me.AllOrders()); n != 1 {
		t.Errorf("%d orders in the OMS, want the one within the bounds", n)
	}
}

// slowHistory is the simulated exchange with a QueryHistory that waits to
// be released, counting the queries in it.
type slowHistory struct {
	engine.Gateway
	mu             sync.Mutex
	in, max, total int
	entered        chan struct{}
	release        chan struct{}
}

func (g *slowHistory) QueryHistory(req engine.HistoryRequest) ([]engine.Bar, error) {
	g.mu.Lock()
	g.in++
	g.total++
	g.max = max(g.max, g.in)
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	g.mu.Lock()
	g.in--
	g.mu.Unlock()
	return g.Gateway.QueryHistory(req)
}

// query_history runs MaxHistoryQueries at a time; the others wait, and one
// whose deadline passes while it waits is refused without running.
func TestHistoryQueriesAreBounded(t *testing.T) {
	me, svc, _, st := newService(t)
	g := &slowHistory{entered: make(chan struct{}, 16), release: make(chan struct{})}
	if _, err := me.AddGateway(func(ev *engine.EventEngine, name string) engine.Gateway {
		g.Gateway = sim.New(ev, name)
		return g
	}, ""); err != nil {
		t.Fatal(err)
	}
	if err := me.Connect(engine.Setting{"tick_rate": 0}, "SIM"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := rpc.Dial(context.Background(), rpc.ClientOptions{Addr: st.SocketPath, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	args, _ := wire.EncodeArgs(&engine.HistoryRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Interval: engine.IntervalMinute, Start: time.Now().Add(-time.Hour)}, "SIM")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const queries = 8
	done := make(chan error, queries)
	for range queries {
		go func() {
			_, err := c.CallRaw(ctx, wire.MethodQueryHistory, args)
			done <- err
		}()
	}
	for range rpcservice.DefaultMaxHistoryQueries {
		<-g.entered
	}
	// Those run; one more with a short deadline waits, and is refused
	// without running when its deadline passes (a raw request, so that
	// this test reads the server's answer rather than giving up first).
	raw, err := net.Dial("unix", st.SocketPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	frame := callrt.AppendRequest(nil, &callrt.Request{ID: 1, Method: wire.MethodQueryHistory,
		Timeout: 100 * time.Millisecond, Sent: callrt.Now(), Args: args})
	if _, err := raw.Write(frame); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n [4]byte
	if _, err := io.ReadFull(raw, n[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.LittleEndian.Uint32(n[:]))
	if _, err := io.ReadFull(raw, body); err != nil {
		t.Fatal(err)
	}
	if _, rep, err := callrt.Decode(body); err != nil || rep == nil || rep.Code != rpc.CodeDeadlineExceeded {
		t.Errorf("a query whose deadline passed while it waited: %+v %v, want code %d", rep, err, rpc.CodeDeadlineExceeded)
	}
	close(g.release)
	for range queries {
		if err := <-done; err != nil {
			t.Errorf("a query: %v", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.max != rpcservice.DefaultMaxHistoryQueries {
		t.Errorf("%d queries ran at once, want %d", g.max, rpcservice.DefaultMaxHistoryQueries)
	}
	if g.total != queries {
		t.Errorf("%d queries ran, want %d: the one that gave up ran too", g.total, queries)
	}
}

// Sixteen concurrent query_history calls of 99 000 bars each: the server
// makes one at a time, not sixteen at once (1.3 GB when they all ran).
func TestHistoryFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1.6 million bars: the full tier")
	}
	me, svc, _, st := newService(t)
	if _, err := me.AddGateway(sim.New, ""); err != nil {
		t.Fatal(err)
	}
	if err := me.Connect(engine.Setting{"tick_rate": 0}, "SIM"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	// A raw client that reads each reply's length and discards it, so the
	// client side holds nothing in this process.
	args, _ := wire.EncodeArgs(&engine.HistoryRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Interval: engine.IntervalMinute, Start: time.Now().Add(-99_000 * time.Minute)}, "SIM")
	runtime.GC()
	before := heap()
	const queries = 16
	done := make(chan error, queries)
	for i := range queries {
		go func() {
			conn, err := net.Dial("unix", st.SocketPath)
			if err != nil {
				done <- err
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
			if _, err := conn.Write(callrt.AppendRequest(nil, &callrt.Request{ID: uint64(i), Method: wire.MethodQueryHistory, Args: args})); err != nil {
				done <- err
				return
			}
			var n [4]byte
			if _, err := io.ReadFull(conn, n[:]); err != nil {
				done <- err
				return
			}
			size := int64(binary.LittleEndian.Uint32(n[:]))
			if size < 1<<20 {
				done <- fmt.Errorf("a reply of %d bytes: not 100 000 bars", size)
				return
			}
			_, err = io.CopyN(io.Discard, conn, size)
			done <- err
		}()
	}
	peak := before
	for finished := 0; finished < queries; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished++
		case <-time.After(5 * time.Millisecond): // a sampling interval, not a wait for an event
			peak = max(peak, heap())
		}
	}
	runtime.GC()
	after := heap()
	t.Logf("%d concurrent queries of 99 000 bars: Go heap %d MB before, %d MB at most, %d MB after", queries, before>>20, peak>>20, after>>20)
	if grew := peak - before; grew > 300<<20 {
		t.Errorf("the queries grew the server's heap by %d MB", grew>>20)
	}
}

// heap is the bytes of the Go heap in use by objects, live or not yet
// collected (runtime/metrics, without stopping the world): the server's
// memory here, and the same with or without the race detector, whose own
// shadow memory would dominate RSS.
func heap() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
