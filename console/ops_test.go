package console

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/gateway/sim"
	"github.com/vnrpc/vnrpc/internal/testutil"
)

// FuzzRequest feeds a tab's request decoder and operations arbitrary
// input: every outcome is an answer (a result or an error), never a panic.
func FuzzRequest(f *testing.F) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	me := engine.NewMainEngine(nil, log)
	defer me.Close()
	if _, err := me.AddGateway(sim.New, sim.DefaultName); err != nil {
		f.Fatal(err)
	}
	if err := me.Connect(engine.Setting{"user_id": "demo", "password": "demo", "tick_rate": 0.0}, sim.DefaultName); err != nil {
		f.Fatal(err)
	}
	testutil.Eventually(f, 10*time.Second, "the contracts", func() error {
		if len(me.AllContracts()) == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	c := &Console{me: me, log: log, hub: newHub(me, time.Second, nil, log)}
	defer c.hub.close()
	for _, s := range []struct{ op, args string }{
		{"order.send", `{"symbol":"rb2601","exchange":"SHFE","direction":"LONG","offset":"OPEN","type":"LIMIT","price":3000,"volume":1}`},
		{"order.send", `{"symbol":"rb2601","exchange":"SHFE","direction":"LONG","offset":"OPEN","type":"MARKET","price":0,"volume":1e308}`},
		{"order.send", `{"symbol":"","exchange":"","price":NaN}`},
		{"order.cancel", `{"vt_orderid":"SIM.1"}`},
		{"subscribe", `{"vt_symbol":"rb2601.SHFE"}`},
		{"gateway.connect", `{"gateway":"SIM","setting":{"seed":1}}`},
		{"service.start", `{"rep_address":"tcp://127.0.0.1:1"}`},
		{"service.stop", ``},
		{"", `null`},
		{"order.send", `[1,2,3]`},
	} {
		f.Add(s.op, []byte(s.args))
	}
	f.Fuzz(func(t *testing.T, op string, args []byte) {
		if len(args) > 0 && !json.Valid(args) {
			// The session refuses invalid JSON before an operation runs;
			// the operations still must not panic on it.
			_, _ = c.do(op, args)
			return
		}
		res, err := c.do(op, args)
		if err != nil && res != nil {
			t.Fatalf("%s %s: both a result %v and an error %v", op, args, res, err)
		}
		if op == "order.send" && err == nil && res == nil {
			t.Fatalf("%s %s: sent, but no order id", op, args)
		}
	})
}
