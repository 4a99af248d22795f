package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vnrpc/vnrpc/console"
	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/internal/testutil"
)

// simEngine is a main engine with the sim gateway connected (no live ticks).
func simEngine(t testing.TB) *engine.MainEngine {
	me := engine.NewMainEngine(nil, quietLogger())
	t.Cleanup(func() { _ = me.Close() })
	if _, err := me.AddGateway(sim.New, sim.DefaultName); err != nil {
		t.Fatal(err)
	}
	if err := me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "tick_rate": 0.0}, sim.DefaultName); err != nil {
		t.Fatal(err)
	}
	gw, _ := me.Gateway(sim.DefaultName)
	listed := len(gw.(*sim.Gateway).VtSymbols())
	testutil.Eventually(t, 10*time.Second, "every contract", func() error {
		if n := len(me.AllContracts()); n < listed {
			return fmt.Errorf("%d of %d contracts", n, listed)
		}
		return nil
	})
	return me
}

func start(t testing.TB, me *engine.MainEngine, o console.Options) *console.Console {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	o.Logger = quietLogger()
	c, err := console.Start(me, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// wsConn is a test's tab.
type wsConn struct {
	t    *testing.T
	conn *websocket.Conn
	id   uint64
}

func dial(t *testing.T, c *console.Console, hdr http.Header) (*wsConn, error) {
	u, _ := url.Parse(c.URL())
	u.Scheme, u.Path = "ws", "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	conn.SetReadLimit(16 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return &wsConn{t: t, conn: conn}, nil
}

func (w *wsConn) next() map[string]any {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := w.conn.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// call sends a request and returns its reply, skipping frames.
func (w *wsConn) call(op string, args any) (ok bool, errText string, result any) {
	w.t.Helper()
	w.id++
	b, _ := json.Marshal(map[string]any{"id": w.id, "op": op, "args": args})
	return w.raw(websocket.MessageText, b)
}

func (w *wsConn) raw(typ websocket.MessageType, b []byte) (bool, string, any) {
	w.t.Helper()
	if err := w.conn.Write(context.Background(), typ, b); err != nil {
		w.t.Fatal(err)
	}
	for {
		m := w.next()
		if m["t"] == "reply" {
			e, _ := m["error"].(string)
			return m["ok"] == true, e, m["result"]
		}
	}
}

func TestTokenRequiredBeyondLoopback(t *testing.T) {
	me := simEngine(t)
	c := start(t, me, console.Options{Addr: "0.0.0.0:0"})
	u, _ := url.Parse(c.URL())
	tok := u.Query().Get("token")
	if len(tok) < 32 {
		t.Fatalf("URL %s: want a generated token of 32 hex digits", c.URL())
	}
	bare := "http://" + u.Host
	for _, path := range []string{"/", "/assets/app.js", "/ws", "/?token=wrong"} {
		resp, err := http.Get(bare + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "access token") {
			t.Errorf("GET %s without the token: %d %q, want 401 naming the token", path, resp.StatusCode, body)
		}
	}
	// The URL it printed opens the page, and its cookie opens the rest.
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	for _, path := range []string{c.URL(), bare + "/assets/app.js", bare + "/assets/app.css"} {
		resp, err := cl.Get(path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the token: %d", path, resp.StatusCode)
		}
	}
	if _, err := dial(t, c, nil); err != nil { // the URL carries the token
		t.Fatalf("websocket with the token: %v", err)
	}
	noTok := *u
	noTok.RawQuery = ""
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, resp, err := websocket.Dial(ctx, "ws://"+u.Host+"/ws", nil); err == nil {
		conn.CloseNow()
		t.Fatal("websocket without the token was accepted")
	} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("websocket without the token: %v, want 401", err)
	}
}

func TestLoopbackNeedsNoTokenUnlessGiven(t *testing.T) {
	me := simEngine(t)
	c := start(t, me, console.Options{})
	if strings.Contains(c.URL(), "token") {
		t.Fatalf("loopback URL %s has a token", c.URL())
	}
	if _, err := dial(t, c, nil); err != nil {
		t.Fatal(err)
	}
	c2 := start(t, me, console.Options{Token: "s3cret"})
	if !strings.Contains(c2.URL(), "token=s3cret") {
		t.Fatalf("URL %s lacks the given token", c2.URL())
	}
	req, _ := http.NewRequest("GET", "http://"+c2.Addr().String()+"/", nil)
	if code := statusOf(t, req); code != http.StatusUnauthorized {
		t.Fatalf("a given token is not required: %d", code)
	}
}

// statusOf sends req and returns the response's status code.
func statusOf(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Without a token the console answers only requests addressed to the
// loopback: a site that rebinds its name to 127.0.0.1 is refused.
func TestLoopbackConsoleRefusesOtherHosts(t *testing.T) {
	me := simEngine(t)
	c := start(t, me, console.Options{})
	port := c.Addr().(*net.TCPAddr).Port
	for host, want := range map[string]int{
		fmt.Sprintf("127.0.0.1:%d", port):    http.StatusOK,
		fmt.Sprintf("localhost:%d", port):    http.StatusOK,
		fmt.Sprintf("[::1]:%d", port):        http.StatusOK,
		fmt.Sprintf("evil.example:%d", port): http.StatusForbidden,
		fmt.Sprintf("192.168.1.10:%d", port): http.StatusForbidden,
		"evil.example":                       http.StatusForbidden,
	} {
		req, _ := http.NewRequest("GET", "http://"+c.Addr().String()+"/", nil)
		req.Host = host
		if code := statusOf(t, req); code != want {
			t.Errorf("Host %s: %d, want %d", host, code, want)
		}
	}
	// The WebSocket too: its upgrade request goes through the same check.
	req, _ := http.NewRequest("GET", "http://"+c.Addr().String()+"/ws", nil)
	req.Host = "evil.example"
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if code := statusOf(t, req); code != http.StatusForbidden {
		t.Fatalf("a rebinding page's websocket: %d, want 403", code)
	}
}

func TestListenErrorNamesTheAddress(t *testing.T) {
	me := simEngine(t)
	c := start(t, me, console.Options{})
	_, err := console.Start(me, console.Options{Addr: c.Addr().String(), Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), c.Addr().String()) {
		t.Fatalf("second console on %s: %v, want an error naming the address", c.Addr(), err)
	}
	if _, err := console.Start(me, console.Options{Lang: "fr", Logger: quietLogger()}); err == nil {
		t.Fatal("lang fr accepted")
	}
}

func TestOriginChecked(t *testing.T) {
	me := simEngine(t)
	c := start(t, me, console.Options{})
	_, err := dial(t, c, http.Header{"Origin": {"http://evil.example"}})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a cross-origin websocket: %v, want 403", err)
	}
	if _, err := dial(t, c, http.Header{"Origin": {"http://" + c.Addr().String()}}); err != nil {
		t.Fatalf("same origin: %v", err)
	}
}

func TestHelloAndBadRequests(t *testing.T) {
	me := simEngine(t)
	c := start(t, me, console.Options{Lang: "zh"})
	w, err := dial(t, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := w.next()
	if h["t"] != "hello" || h["mode"] != "engine" || h["lang"] != "zh" {
		t.Fatalf("hello: %v", h)
	}
	snap := h["snapshot"].(map[string]any)
	if n := len(snap["contracts"].([]any)); n != len(me.AllContracts()) {
		t.Fatalf("snapshot has %d contracts, the engine %d", n, len(me.AllContracts()))
	}
	enums := h["enums"].(map[string]any)
	dirs := enums["direction"].([]any)
	if d := dirs[0].(map[string]any); d["code"] != "LONG" || d["zh"] != "多" || d["en"] != "Long" {
		t.Fatalf("direction names: %v", dirs)
	}

	order := func(over map[string]any) map[string]any {
		a := map[string]any{"symbol": "rb2601", "exchange": "SHFE", "direction": "LONG", "offset": "OPEN",
			"type": "LIMIT", "price": 3500.0, "volume": 1.0}
		for k, v := range over {
			a[k] = v
		}
		return a
	}
	cases := []struct {
		name, op string
		args     any
		want     string
	}{
		{"unknown op", "rm -rf", nil, `unknown operation "rm -rf"`},
		{"no service", "service.start", map[string]any{}, "no RPC service"},
		{"no service to stop", "service.stop", nil, "no RPC service"},
		{"unknown gateway", "gateway.connect", map[string]any{"gateway": "CTP", "setting": map[string]any{}}, "CTP"},
		{"unknown setting", "gateway.connect", map[string]any{"gateway": "SIM", "setting": map[string]any{"pasword": "x"}}, `no setting "pasword"`},
		{"setting type", "gateway.connect", map[string]any{"gateway": "SIM", "setting": map[string]any{"seed": "one"}}, "want a number"},
		{"already connected", "gateway.connect", map[string]any{"gateway": "SIM", "setting": map[string]any{}}, "already"},
		{"unknown field", "subscribe", map[string]any{"symbol": "rb2601.SHFE"}, "bad arguments"},
		{"bad vt_symbol", "subscribe", map[string]any{"vt_symbol": "rb2601"}, "not SYMBOL.EXCHANGE"},
		{"unknown contract", "subscribe", map[string]any{"vt_symbol": "xx9999.SHFE"}, "no contract xx9999.SHFE"},
		{"bad exchange", "order.send", order(map[string]any{"exchange": "XNYS"}), "exchange: engine: unknown Exchange"},
		{"no direction", "order.send", order(map[string]any{"direction": ""}), "direction"},
		{"zero volume", "order.send", order(map[string]any{"volume": 0.0}), "volume: must be positive"},
		{"odd volume", "order.send", order(map[string]any{"symbol": "600519", "exchange": "SSE", "offset": "NONE", "price": 1500.0, "volume": 50.0}), "multiples of 100"},
		{"negative price", "order.send", order(map[string]any{"price": -1.0}), "price: must be positive"},
		{"off tick", "order.send", order(map[string]any{"price": 3500.5}), "ticks of 1"},
		{"wrong type", "order.send", order(map[string]any{"volume": "1"}), "bad arguments"},
		{"unknown order", "order.cancel", map[string]any{"vt_orderid": "SIM.404"}, `no order "SIM.404"`},
	}
	for _, tc := range cases {
		ok, e, _ := w.call(tc.op, tc.args)
		if ok || !strings.Contains(e, tc.want) {
			t.Errorf("%s: ok=%v error %q, want an error containing %q", tc.name, ok, e, tc.want)
		}
	}
	if err := me.EventEngine().Sync(context.Background()); err != nil { // the OMS has seen what was put
		t.Fatal(err)
	}
	if len(me.AllOrders()) != 0 {
		t.Fatalf("a refused request sent an order: %v", me.AllOrders())
	}
	if ok, e, _ := w.raw(websocket.MessageText, []byte("{not json")); ok || !strings.Contains(e, "malformed request") {
		t.Errorf("malformed: %v %q", ok, e)
	}
	if ok, e, _ := w.raw(websocket.MessageBinary, []byte{1, 2, 3}); ok || !strings.Contains(e, "JSON text") {
		t.Errorf("binary: %v %q", ok, e)
	}

	// A good order, then its cancel; a second cancel says why not.
	ok, e, res := w.call("order.send", order(map[string]any{"price": 3000.0}))
	if !ok {
		t.Fatalf("order.send: %s", e)
	}
	id := res.(map[string]any)["vt_orderid"].(string)
	// The OMS records orders on the event engine's dispatcher: wait for it.
	testutil.Eventually(t, 10*time.Second, "the order in the OMS", func() error {
		if o, found := me.Order(id); !found || o.Reference != "console" {
			return fmt.Errorf("order %s: %v %v", id, o, found)
		}
		return nil
	})
	if ok, e, _ := w.call("order.cancel", map[string]any{"vt_orderid": id}); !ok {
		t.Fatalf("cancel: %s", e)
	}
	testutil.Eventually(t, 10*time.Second, "the order cancelled", func() error {
		if o, _ := me.Order(id); o.Status != engine.StatusCancelled {
			return fmt.Errorf("status %s", o.Status)
		}
		return nil
	})
	if ok, e, _ := w.call("order.cancel", map[string]any{"vt_orderid": id}); ok || !strings.Contains(e, "only active orders") {
		t.Fatalf("second cancel: %v %q", ok, e)
	}
}

// At any tick rate a tab gets at most one row per symbol per frame, and
// ends with the latest values.
func TestFramesCoalesceTicks(t *testing.T) {
	me := engine.NewMainEngine(nil, quietLogger())
	t.Cleanup(func() { _ = me.Close() })
	c := start(t, me, console.Options{FrameInterval: 20 * time.Millisecond})
	w, err := dial(t, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h := w.next(); h["t"] != "hello" {
		t.Fatalf("first message %v", h)
	}
	symbols := []string{"a1", "b1", "c1", "d1"}
	const n = 20000
	for i := 1; i <= n; i++ {
		tk := &engine.Tick{GatewayName: "T", Symbol: symbols[i%len(symbols)], Exchange: engine.ExchangeSHFE,
			LastPrice: float64(i), Datetime: time.Unix(0, int64(i))}
		me.EventEngine().Put(engine.Event{Type: engine.EventTick + tk.VtSymbol(), Data: tk})
	}
	last := map[string]float64{}
	frames := 0
	for len(last) < len(symbols) || anyBelow(last, float64(n-len(symbols)+1)) {
		m := w.next()
		if m["t"] != "frame" {
			continue
		}
		frames++
		ticks, _ := m["ticks"].([]any)
		if len(ticks) > len(symbols) {
			t.Fatalf("a frame carried %d tick rows for %d symbols", len(ticks), len(symbols))
		}
		for _, r := range ticks {
			row := r.(map[string]any)
			last[row["vt_symbol"].(string)] = row["last_price"].(float64)
		}
	}
	if frames >= n/len(symbols) {
		t.Fatalf("%d frames for %d ticks: not coalesced", frames, n)
	}
}

func anyBelow(m map[string]float64, v float64) bool {
	for _, x := range m {
		if x < v {
			return true
		}
	}
	return false
}

func TestCloseEndsTabsAndIsIdempotent(t *testing.T) {
	me := simEngine(t)
	c, err := console.Start(me, console.Options{Addr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := dial(t, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.next() // hello
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := w.conn.Read(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("the tab's connection stayed open after Close")
			}
			break
		}
	}
	if _, err := http.Get(c.URL()); err == nil {
		t.Fatal("still serving after Close")
	}
}
