package console_test

// The console in a real browser: Debian's Chromium driven by chromedp.
// One browser serves the package; the scenarios run in order in one test,
// each on the state the one before left (a server page and a client page
// on two engines in this process, joined by the RPC service).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vnrpc/vnrpc/console"
	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/rpcservice"
	"github.com/vnrpc/vnrpc/rpcservice/rpcgateway"
)

var (
	browserOnce   sync.Once
	browserCtx    context.Context
	browserErr    error
	browserCancel = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	browserCancel()
	os.Exit(code)
}

// chromium finds Debian's Chromium ($VNRPC_CHROMIUM overrides).
func chromium() string {
	for _, p := range []string{os.Getenv("VNRPC_CHROMIUM"), "/usr/lib/chromium/chromium", "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// browser starts the package's one browser. A missing Chromium is a
// failure, not a skip: these tests are required (scripts/deps.sh installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	browserOnce.Do(func() {
		path := chromium()
		if path == "" {
			browserErr = fmt.Errorf("no Chromium: install Debian's chromium (scripts/deps.sh does) or set VNRPC_CHROMIUM")
			return
		}
		dir, err := os.MkdirTemp("", "vnrpc-chromium-")
		if err != nil {
			browserErr = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
			chromedp.DisableGPU, chromedp.UserDataDir(dir), chromedp.WindowSize(1400, 1000),
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true))
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		if err := chromedp.Do(bctx); err != nil { // starts the browser
			bcancel()
			acancel()
			os.RemoveAll(dir)
			browserErr = fmt.Errorf("start %s: %w", path, err)
			return
		}
		browserCtx = bctx
		browserCancel = func() { bcancel(); acancel(); os.RemoveAll(dir) }
	})
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	return browserCtx
}

// page is one tab on a console.
type page struct {
	t    *testing.T
	ctx  context.Context
	name string
	dir  string
}

// shotDir is where screenshots go: $VNRPC_SCREENSHOTS, else the test's
// artifact directory (go test -artifacts -outputdir DIR keeps it).
func shotDir(t *testing.T) string {
	if d := os.Getenv("VNRPC_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

// openPage opens url in a new tab, closed when owner ends.
func openPage(t, owner *testing.T, url, name, dir string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t))
	owner.Cleanup(cancel)
	p := &page{t: t, ctx: ctx, name: name, dir: dir}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("%s: open %s: %v", name, url, err)
	}
	p.wait(`document.body.dataset.console === "up"`, "the page's WebSocket is up")
	return p
}

// wait polls a JavaScript predicate until it holds (20 s at most). On
// failure it saves a screenshot and says what was awaited.
func (p *page) wait(pred, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](pred, chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		p.shot("failed-" + p.name)
		p.t.Fatalf("%s page: waited for %s (%s): %v", p.name, what, pred, err)
	}
}

func (p *page) eval(expr string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("%s page: %s: %v", p.name, expr, err)
	}
	return v
}

func (p *page) click(sel string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("%s page: click %s: %v", p.name, sel, err)
	}
}

func (p *page) set(sel, v string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.SetValue(chromedp.CSS(sel), v)); err != nil {
		p.t.Fatalf("%s page: set %s: %v", p.name, sel, err)
	}
}

func (p *page) shot(name string) {
	b, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(p.dir, name+".png")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p.t.Logf("screenshot: %s", path)
}

// cellJS is the text (or, with attr "code", the enum code) of a table cell.
func cellJS(table, key, col, attr string) string {
	get := "textContent"
	if attr != "" {
		get = "dataset." + attr
	}
	return fmt.Sprintf(`(document.querySelector('#t-%s tr[data-key="%s"] td[data-col="%s"]') || {}).%s`, table, key, col, get)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestConsoleInBrowser walks the console as a user does: the server page
// connects the exchange and starts the service; the client page connects,
// subscribes, trades, cancels, rides out a server stop and a lost console.
// skipShort skips a test that drives Chromium in the fast tier.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("drives Chromium: the full tier")
	}
}

func TestConsoleInBrowser(t *testing.T) {
	skipShort(t)
	top := t
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil { // the socket's directory must be private
		t.Fatal(err)
	}
	shots := shotDir(t)
	log := quietLogger()

	// The server process: the sim gateway, not yet connected, and the RPC
	// service, not yet started (local transport only).
	srvME := engine.NewMainEngine(nil, log)
	t.Cleanup(func() { _ = srvME.Close() })
	if _, err := srvME.AddGateway(sim.New, sim.DefaultName); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "rpc.sock")
	st := rpcservice.Setting{SocketPath: sock, SegmentDir: dir}
	if _, err := srvME.AddApp(rpcservice.Factory(rpcservice.Options{DataDir: dir, Setting: &st, Logger: log})); err != nil {
		t.Fatal(err)
	}
	srvCon, err := console.Start(srvME, console.Options{Addr: "127.0.0.1:0", Title: "vnrpc server", Logger: log,
		Settings: map[string]engine.Setting{sim.DefaultName: {"user_id": "demo", "password": "demo", "seed": 7.0, "tick_rate": 20.0}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srvCon.Close() })

	// The client process: the RPC gateway, connected from its page.
	cliME := engine.NewMainEngine(nil, log)
	t.Cleanup(func() { _ = cliME.Close() })
	if _, err := cliME.AddGateway(rpcgateway.Factory(rpcgateway.Options{Logger: log}), rpcgateway.DefaultName); err != nil {
		t.Fatal(err)
	}
	cliOpts := console.Options{Addr: "127.0.0.1:0", Title: "vnrpc client", Logger: log,
		Settings: map[string]engine.Setting{rpcgateway.DefaultName: {rpcgateway.KeyAddress: sock, rpcgateway.KeyTimeout: 5.0}}}
	cliCon, err := console.Start(cliME, cliOpts)
	if err != nil {
		t.Fatal(err)
	}
	cliAddr := cliCon.Addr().String()
	t.Cleanup(func() { _ = cliCon.Close() })

	var srv, cli *page

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"server page: connect the exchange, press Start", func(t *testing.T) {
			srv = openPage(t, top, srvCon.URL(), "server", shots)
			srv.wait(`!document.querySelector('#service-panel').classList.contains('hidden')`, "the RPC service panel")
			srv.wait(`document.querySelector('#svc-state').dataset.running === "false" && document.querySelector('#svc-stop').disabled`,
				"the panel to show the service stopped")
			srv.click(`#gw-SIM-connect`)
			srv.wait(`document.querySelector('#gw-SIM .state').dataset.state === "connected"`, "the SIM gateway connected")
			srv.click(`#svc-start`)
			srv.wait(`document.querySelector('#svc-state').dataset.running === "true" && document.querySelector('#svc-start').disabled`,
				"the panel to show the service running")
			srv.wait(`document.querySelector('#rpclog').textContent.includes("RPC service started")`, "the service log")
			if app, _ := srvME.App(rpcservice.AppName); !app.(*rpcservice.Engine).Running() {
				t.Fatal("the page says running but the service is not")
			}
			srv.shot("server")
		}},
		{"client page: connect, see the transport", func(t *testing.T) {
			cli = openPage(t, top, cliCon.URL(), "client", shots)
			cli.wait(`document.body.dataset.mode === "client" && !!document.querySelector('#gw-RPC-connect')`, "the connect dialog")
			if got := cli.eval(`document.querySelector('#gw-RPC-address').value`); got != sock {
				t.Fatalf("the dialog's address is %q, want %q", got, sock)
			}
			cli.click(`#gw-RPC-connect`)
			cli.wait(`document.querySelector('#conn-state').dataset.state === "connected" || document.querySelector('#conn-state').dataset.state === "resynced"`,
				"the connection state: connected")
			if tr := cli.eval(`document.querySelector('#conn-state').dataset.transport`); tr != "local" {
				t.Fatalf("transport %q, want local (same host)", tr)
			}
			srv.wait(`document.querySelectorAll('#t-clients tbody tr').length === 1 && document.querySelector('#t-clients td[data-col="transport"]').textContent === "local"`,
				"the server page's client table to list the client")
			cli.shot("client-connected")
		}},
		{"subscribe, see ticks move", func(t *testing.T) {
			cli.wait(`document.querySelectorAll('#symbols option').length > 0`, "the contracts")
			cli.set(`#sub-symbol`, "rb2601.SHFE")
			cli.click(`#sub-btn`)
			cli.wait(`!!document.querySelector('#t-ticks tr[data-key="rb2601.SHFE"]')`, "a tick row for rb2601.SHFE")
			first := cli.eval(cellJS("ticks", "rb2601.SHFE", "time", ""))
			cli.wait(cellJS("ticks", "rb2601.SHFE", "time", "")+` !== `+jsString(first), "the tick row to update")
		}},
		{"a limit order fills: orders, trades, positions, account", func(t *testing.T) {
			ask := cli.eval(`String(TABLES.ticks.data.get("rb2601.SHFE").ask_price_1)`)
			cli.set(`#op-symbol`, "rb2601")
			cli.set(`#op-exchange`, "SHFE")
			cli.set(`#op-direction`, "LONG")
			cli.set(`#op-offset`, "OPEN")
			cli.set(`#op-type`, "LIMIT")
			cli.set(`#op-price`, ask)
			cli.set(`#op-volume`, "1")
			cli.click(`#op-send`)
			cli.wait(`[...document.querySelectorAll('#t-orders td[data-col="status"]')].some(td => td.dataset.code === "ALLTRADED")`,
				"an order ALLTRADED")
			cli.wait(`document.querySelectorAll('#t-trades tbody tr').length >= 1`, "a trade")
			cli.wait(cellJS("positions", "RPC.rb2601.SHFE.LONG", "volume", "")+` === "1"`, "a long position of 1")
			cli.wait(`document.querySelectorAll('#t-accounts tbody tr').length >= 1 && Number(document.querySelector('#t-accounts td[data-col="frozen"]').textContent) >= 0`,
				"the account")
			// The server's page shows the same order.
			srv.wait(`[...document.querySelectorAll('#t-orders td[data-col="status"]')].some(td => td.dataset.code === "ALLTRADED")`,
				"the order on the server page")
			cli.shot("client-filled")
		}},
		{"validation and rejections", func(t *testing.T) {
			cli.set(`#op-volume`, "0")
			cli.click(`#op-send`)
			cli.wait(`document.querySelector('#op-error').textContent.length > 0`, "the order panel's validation error")
			n := cli.eval(`String(document.querySelectorAll('#t-orders tbody tr').length)`)
			// Above the daily limit: the exchange rejects it, with its reason.
			up := cli.eval(`String(TABLES.ticks.data.get("rb2601.SHFE").limit_up + 10 * state.contracts.get("rb2601.SHFE").pricetick)`)
			cli.set(`#op-volume`, "1")
			cli.set(`#op-price`, up)
			cli.click(`#op-send`)
			cli.wait(`[...document.querySelectorAll('#notices .notice.error')].some(n => n.textContent.includes("outside the daily limits"))`,
				"a rejection notice with its reason")
			cli.wait(`[...document.querySelectorAll('#t-orders td[data-col="reason"]')].some(td => td.textContent.includes("outside the daily limits"))`,
				"the reason in the orders table")
			if got := cli.eval(`String(document.querySelectorAll('#t-orders tbody tr').length)`); got == n {
				t.Fatalf("the rejected order is not in the table (%s rows)", got)
			}
		}},
		{"cancel an active order", func(t *testing.T) {
			down := cli.eval(`String(TABLES.ticks.data.get("rb2601.SHFE").limit_down)`)
			cli.set(`#op-price`, down)
			cli.click(`#op-send`)
			cli.wait(`!!document.querySelector('#t-orders tr[data-active="true"] button.cancel')`, "an active order with a cancel button")
			key := cli.eval(`document.querySelector('#t-orders tr[data-active="true"]').dataset.key`)
			cli.click(`#t-orders tr[data-key="` + key + `"] button.cancel`)
			cli.wait(cellJS("orders", key, "status", "code")+` === "CANCELLED"`, "the order cancelled")
			cli.wait(`!document.querySelector('#t-orders tr[data-key="`+key+`"] button.cancel')`, "its cancel button gone")
		}},
		{"stop the server: the client's banner, then reconnect", func(t *testing.T) {
			srv.click(`#svc-stop`)
			srv.wait(`document.querySelector('#svc-state').dataset.running === "false" && !document.querySelector('#svc-start').disabled`,
				"the panel to show the service stopped")
			cli.wait(`!document.querySelector('#server-banner').classList.contains('hidden')`, "the client's disconnected banner")
			cli.shot("client-disconnected")
			srv.click(`#svc-start`)
			srv.wait(`document.querySelector('#svc-state').dataset.running === "true"`, "the service running again")
			cli.wait(`["connected","resynced"].includes(document.querySelector('#conn-state').dataset.state) && document.querySelector('#server-banner').classList.contains('hidden')`,
				"the client reconnected and the banner gone")
		}},
		{"the panel follows the service when it is stopped and started elsewhere", func(t *testing.T) {
			app, _ := srvME.App(rpcservice.AppName)
			svc := app.(*rpcservice.Engine)
			if err := svc.Stop(); err != nil {
				t.Fatal(err)
			}
			srv.wait(`document.querySelector('#svc-state').dataset.running === "false" && !document.querySelector('#svc-start').disabled && document.querySelector('#svc-stop').disabled`,
				"Stop from outside: the panel shows stopped")
			if err := svc.Start(); err != nil {
				t.Fatal(err)
			}
			srv.wait(`document.querySelector('#svc-state').dataset.running === "true" && document.querySelector('#svc-start').disabled && !document.querySelector('#svc-stop').disabled`,
				"Start from outside: the panel shows running")
			cli.wait(`["connected","resynced"].includes(document.querySelector('#conn-state').dataset.state)`, "the client back")
		}},
		{"the console's own connection drops and comes back", func(t *testing.T) {
			_ = cliCon.Close()
			cli.wait(`!document.querySelector('#banner').classList.contains('hidden') && document.body.dataset.console === "lost"`,
				"the lost-console banner")
			cliOpts.Addr = cliAddr
			var err error
			if cliCon, err = console.Start(cliME, cliOpts); err != nil {
				t.Fatal(err)
			}
			cli.wait(`document.querySelector('#banner').classList.contains('hidden') && document.body.dataset.console === "up"`,
				"the page reconnected by itself")
			cli.wait(`document.querySelectorAll('#t-trades tbody tr').length >= 1`, "the tables again from the snapshot")
		}},
		{"zh labels", func(t *testing.T) {
			if err := chromedp.Do(cli.ctx, chromedp.SetValue(chromedp.CSS(`#lang`), "zh"),
				chromedp.Evaluate[chromedp.Void](`document.querySelector('#lang').dispatchEvent(new Event('change'))`)); err != nil {
				t.Fatal(err)
			}
			cli.wait(`[...document.querySelectorAll('#t-orders td[data-col="status"]')].some(td => td.textContent === "全部成交")`,
				"the order status in Chinese")
			cli.wait(`document.querySelector('#t-orders thead th').textContent === "委托号"`, "the column names in Chinese")
			cli.shot("client-zh")
		}},
	}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			for _, p := range []*page{srv, cli} {
				if p != nil {
					p.t = t // a page reports to the step that uses it
				}
			}
			s.run(t)
		})
		if !ok {
			t.Fatalf("step %q failed; the steps after it build on it", s.name)
		}
	}
	if strings.TrimSpace(os.Getenv("VNRPC_SCREENSHOTS")) == "" {
		t.Logf("screenshots are in the test's artifact directory: run go test -artifacts -outputdir DIR to keep them, or set VNRPC_SCREENSHOTS")
	}
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestConsoleAt10kTicks feeds a console 10 000 ticks a second over 20
// symbols: the page gets at most one frame per FrameInterval, shows the
// latest price of every symbol, and still answers the user.
func TestConsoleAt10kTicks(t *testing.T) {
	skipShort(t)
	log := quietLogger()
	me := engine.NewMainEngine(nil, log)
	t.Cleanup(func() { _ = me.Close() })
	con, err := console.Start(me, console.Options{Addr: "127.0.0.1:0", Title: "load", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = con.Close() })
	p := openPage(t, t, con.URL(), "load", shotDir(t))
	// Count the frames the page receives and the frames the browser paints.
	p.eval(`(() => { window.__frames = 0; const orig = applyFrame;
		applyFrame = function (f) { window.__frames++; orig(f); };
		window.__raf = 0; (function loop() { window.__raf++; requestAnimationFrame(loop); })(); return ""; })()`)

	const symbols, perMs = 20, 10 // 10 ticks each millisecond: 10 000/s
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var last sync.Map // vt_symbol -> last price put
	var put atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		n, began := 0, time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			due := int(time.Since(began)/time.Millisecond) * perMs // catch up on late ticks
			for ; n < due; put.Add(1) {
				n++
				sym := fmt.Sprintf("s%02d", n%symbols)
				tick := &engine.Tick{GatewayName: "LOAD", Symbol: sym, Exchange: engine.ExchangeSHFE,
					LastPrice: float64(n), Datetime: time.Now()}
				me.EventEngine().Put(engine.Event{Type: engine.EventTick + tick.VtSymbol(), Data: tick})
				last.Store(tick.VtSymbol(), n)
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	p.wait(fmt.Sprintf(`document.querySelectorAll('#t-ticks tbody tr').length === %d`, symbols), "a row per symbol")
	put0, t0 := put.Load(), time.Now()
	start := p.eval(`JSON.stringify([window.__frames, window.__raf, performance.now()])`)
	p.wait(`window.__frames >= 30`, "30 frames under load")
	end := p.eval(`JSON.stringify([window.__frames, window.__raf, performance.now()])`)
	rate := float64(put.Load()-put0) / time.Since(t0).Seconds()
	var a, b [3]float64
	if err := json.Unmarshal([]byte(start), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(end), &b); err != nil {
		t.Fatal(err)
	}
	secs := (b[2] - a[2]) / 1000
	frames, paints := b[0]-a[0], b[1]-a[1]
	t.Logf("under %.0f ticks/s: %.0f frames received in %.2f s (%.1f/s), %.1f paints/s", rate, frames, secs, frames/secs, paints/secs)
	if limit := secs*10 + 3; frames > limit { // FrameInterval 100 ms: 10 a second, plus replies and slack
		t.Errorf("%.0f frames in %.2f s: more than one per 100 ms", frames, secs)
	}
	// The user still gets answers: switch the language and see it.
	if err := chromedp.Do(p.ctx, chromedp.SetValue(chromedp.CSS(`#lang`), "zh"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#lang').dispatchEvent(new Event('change'))`)); err != nil {
		t.Fatal(err)
	}
	p.wait(`document.querySelector('#t-ticks thead th:nth-child(3)').textContent === "最新价"`, "the labels switched under load")
	cancel()
	wg.Wait()
	// Once the feed stops, every row shows its symbol's last price.
	last.Range(func(k, v any) bool {
		p.wait(fmt.Sprintf(`%s === "%d"`, cellJS("ticks", k.(string), "last_price", ""), v.(int)), "the last price of "+k.(string))
		return true
	})
	p.shot("load-10k")
}
