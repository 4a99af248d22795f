// Package engine is vnrpc's trading core: the data objects and enums of
// vn.py's vnpy.trader, the event engine, the main engine with its OMS, and the
// Gateway and App contracts that exchange connections and plug-ins implement.
//
// It knows nothing of transports or encodings (the msgpack struct tags aside;
// rpcservice/wire encodes the objects) and imports nothing but the standard
// library.
//
// Typical use, with the simulated exchange:
//
//	me := engine.NewMainEngine(nil, nil)
//	defer me.Close()
//	me.EventEngine().Register(engine.EventTrade, func(e engine.Event) {
//		t := e.Data.(*engine.Trade)
//		fmt.Println("filled", t.VtSymbol(), t.Volume, "@", t.Price)
//	})
//	me.AddGateway(sim.New, "SIM")
//	me.Connect(engine.Setting{"user_id": "demo", "password": "demo"}, "SIM")
//	me.SendOrder(engine.OrderRequest{…}, "SIM")
//
// Concurrency: EventEngine, MainEngine and OMS are safe for concurrent use.
// Handlers run one at a time on the event engine's dispatcher goroutine, in
// the order events were put. Objects carried by events are shared and
// read-only.
//
// Enums carry stable English codes (LONG, NOTTRADED, SHFE) on the wire and in
// config; DisplayName gives the zh or en label.
package engine
