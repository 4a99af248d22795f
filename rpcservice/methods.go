package rpcservice

import (
	"context"
	"errors"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/rpcservice/wire"
)

// register exposes the main engine's functions on srv (see wire.Method*).
// Lookups are Inline (quick, never blocking); calls into gateways are too
// when every gateway says it is quick (engine.QuickGateway), since a
// gateway may otherwise wait on its exchange.
//
// The lookups wait for ready: until the service has started, the OMS may
// not hold everything put before it did.
func (s *Engine) register(srv *rpc.Server, ready <-chan struct{}) {
	me := s.me
	var gwOpts []rpc.HandleOption
	if allQuick(me) {
		gwOpts = append(gwOpts, rpc.Inline())
	}
	routed(srv, gwOpts, wire.MethodSubscribe, func(req engine.SubscribeRequest, gw string) ([]byte, error) {
		return nil, me.Subscribe(req, gw)
	})
	routed(srv, gwOpts, wire.MethodSendOrder, func(req engine.OrderRequest, gw string) ([]byte, error) {
		id, err := me.SendOrder(req, gw)
		if err != nil {
			return nil, err
		}
		return msgpack.Marshal(id)
	})
	routed(srv, gwOpts, wire.MethodCancelOrder, func(req engine.CancelRequest, gw string) ([]byte, error) {
		return nil, me.CancelOrder(req, gw)
	})
	routed(srv, gwOpts, wire.MethodSendQuote, func(req engine.QuoteRequest, gw string) ([]byte, error) {
		id, err := me.SendQuote(req, gw)
		if err != nil {
			return nil, err
		}
		return msgpack.Marshal(id)
	})
	routed(srv, gwOpts, wire.MethodCancelQuote, func(req engine.CancelRequest, gw string) ([]byte, error) {
		return nil, me.CancelQuote(req, gw)
	})
	routedCtx(srv, nil, wire.MethodQueryHistory, // may be long: never inline
		func(ctx context.Context, req engine.HistoryRequest, gw string) ([]byte, error) {
			// At most MaxHistoryQueries at once: each may hold some 70 MB.
			select {
			case s.history <- struct{}{}:
				defer func() { <-s.history }()
			case <-ctx.Done(): // it did not run
				code := rpc.CodeShutdown
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					code = rpc.CodeDeadlineExceeded
				}
				return nil, rpc.Errorf(code, "the deadline passed while waiting for one of the %d query_history slots", cap(s.history))
			}
			bars, err := me.QueryHistory(req, gw)
			if err != nil {
				return nil, err
			}
			ptrs := make([]*engine.Bar, len(bars))
			for i := range bars {
				ptrs[i] = &bars[i]
			}
			return wire.EncodeList(ptrs)
		})

	one(srv, ready, wire.MethodGetTick, me.Tick)
	one(srv, ready, wire.MethodGetOrder, me.Order)
	one(srv, ready, wire.MethodGetTrade, me.Trade)
	one(srv, ready, wire.MethodGetPosition, me.Position)
	one(srv, ready, wire.MethodGetAccount, me.Account)
	one(srv, ready, wire.MethodGetContract, me.Contract)
	one(srv, ready, wire.MethodGetQuote, me.Quote)
	list(srv, ready, wire.MethodGetAllTicks, me.AllTicks)
	list(srv, ready, wire.MethodGetAllOrders, me.AllOrders)
	list(srv, ready, wire.MethodGetAllTrades, me.AllTrades)
	list(srv, ready, wire.MethodGetAllPositions, me.AllPositions)
	list(srv, ready, wire.MethodGetAllAccounts, me.AllAccounts)
	list(srv, ready, wire.MethodGetAllContracts, me.AllContracts)
	list(srv, ready, wire.MethodGetAllQuotes, me.AllQuotes)
	list(srv, ready, wire.MethodGetAllActiveOrders, me.AllActiveOrders)
	list(srv, ready, wire.MethodGetAllActiveQuotes, me.AllActiveQuotes)

	srv.HandleRaw(wire.MethodGetAllGatewayNames, func(context.Context, []byte) ([]byte, error) {
		return msgpack.Marshal(me.GatewayNames())
	}, rpc.Inline())
	srv.HandleRaw(wire.MethodGetAllExchanges, func(context.Context, []byte) ([]byte, error) {
		var codes []string
		for _, ex := range me.Exchanges() {
			codes = append(codes, ex.String())
		}
		return msgpack.Marshal(codes)
	}, rpc.Inline())
	srv.HandleRaw(wire.MethodStatus, func(context.Context, []byte) ([]byte, error) {
		c := me.Counts()
		_, epoch := srv.Running()
		return msgpack.Marshal(wire.Status{Epoch: epoch, Gateways: me.GatewayNames(), Contracts: c.Contracts,
			Orders: c.Orders, Trades: c.Trades, NextSeq: srv.NextSeq(), Clients: len(srv.Stats()), Version: "vnrpc"})
	}, rpc.Inline())
}

// routed registers a call that goes to a gateway: [request, gateway_name].
// A request whose strings pass their bounds (wire.CheckRequest) is a bad
// request: it reaches no gateway.
func routed[Req any](srv *rpc.Server, opts []rpc.HandleOption, method string, f func(req Req, gw string) ([]byte, error)) {
	routedCtx(srv, opts, method, func(_ context.Context, req Req, gw string) ([]byte, error) { return f(req, gw) })
}

// routedCtx is routed for a method that uses its call's context.
func routedCtx[Req any](srv *rpc.Server, opts []rpc.HandleOption, method string, f func(ctx context.Context, req Req, gw string) ([]byte, error)) {
	srv.HandleRaw(method, func(ctx context.Context, args []byte) ([]byte, error) {
		var req Req
		var gw string
		if err := wire.DecodeArgs(args, &req, &gw); err != nil {
			return nil, rpc.Errorf(rpc.CodeBadRequest, "%s: %v", method, err)
		}
		if err := errors.Join(wire.CheckRequest(&req), wire.CheckLen("gateway name", gw, wire.MaxSymbolLen)); err != nil {
			return nil, rpc.Errorf(rpc.CodeBadRequest, "%s: %v", method, err)
		}
		return f(ctx, req, gw)
	}, opts...)
}

// one registers a lookup by id: [id] -> object or nil.
func one[T any](srv *rpc.Server, ready <-chan struct{}, method string, get func(string) (*T, bool)) {
	srv.HandleRaw(method, func(_ context.Context, args []byte) ([]byte, error) {
		<-ready
		var id string
		if err := wire.DecodeArgs(args, &id); err != nil {
			return nil, rpc.Errorf(rpc.CodeBadRequest, "%s: %v", method, err)
		}
		if err := wire.CheckLen("id", id, wire.MaxVtIDLen); err != nil {
			return nil, rpc.Errorf(rpc.CodeBadRequest, "%s: %v", method, err)
		}
		v, _ := get(id)
		return wire.EncodeOne(v)
	}, rpc.Inline())
}

// list registers a lookup of everything: [] -> [object].
func list[T any](srv *rpc.Server, ready <-chan struct{}, method string, all func() []*T) {
	srv.HandleRaw(method, func(context.Context, []byte) ([]byte, error) {
		<-ready
		return wire.EncodeList(all())
	}, rpc.Inline())
}

// allQuick reports whether every gateway of me is an engine.QuickGateway
// that says so (and there is at least one).
func allQuick(me *engine.MainEngine) bool {
	names := me.GatewayNames()
	for _, n := range names {
		g, err := me.Gateway(n)
		if err != nil {
			return false
		}
		q, ok := g.(engine.QuickGateway)
		if !ok || !q.Quick() {
			return false
		}
	}
	return len(names) > 0
}
