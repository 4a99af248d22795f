// Package strategy runs trading strategies on a main engine, through
// whatever gateway it has: the RPC gateway in a client process, the sim
// gateway in one process. Each strategy gets its own goroutine, so its
// callbacks never run concurrently with each other; it sees the ticks of
// its symbols and only its own orders and trades (orders carry the
// strategy's name as their reference). A strategy that panics is stopped
// and logged; the others go on.
package strategy

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/vnrpc/vnrpc/engine"
)

// Strategy is what a strategy implements; embed Base for no-op defaults.
type Strategy interface {
	// OnStart runs once on the strategy's goroutine before any other callback.
	OnStart(c *Context)
	OnTick(c *Context, t *engine.Tick)
	// OnOrder receives every update of this strategy's orders.
	OnOrder(c *Context, o *engine.Order)
	// OnTrade receives every fill of this strategy's orders.
	OnTrade(c *Context, t *engine.Trade)
	// OnStop runs once when the strategy stops (not after a panic).
	OnStop(c *Context)
}

// Base implements every callback as a no-op.
type Base struct{}

func (Base) OnStart(*Context)                {}
func (Base) OnTick(*Context, *engine.Tick)   {}
func (Base) OnOrder(*Context, *engine.Order) {}
func (Base) OnTrade(*Context, *engine.Trade) {}
func (Base) OnStop(*Context)                 {}

// Config places a strategy.
type Config struct {
	// Name identifies the strategy; it is the reference of its orders, so
	// it must be unique among the strategies sharing a server.
	Name string
	// Symbols are the vt_symbols whose ticks it receives (subscribed on Add).
	Symbols []string
	// Gateway routes its orders (the main engine's gateway name).
	Gateway string
	// Inline runs the callbacks on the goroutine that delivers each event
	// (for the RPC gateway, the reader of the server's events) instead of
	// the strategy's own goroutine: the latency of one goroutine wake-up
	// less per event. Callbacks still never overlap and a panic still
	// stops only this strategy, but a slow callback delays every event of
	// the process. It needs a gateway that is an engine.ReentrantGateway.
	Inline bool
}

// ErrStopped: the strategy has stopped.
var ErrStopped = errors.New("strategy: stopped")

// Runner runs one strategy. Its methods are safe for concurrent use.
type Runner struct {
	cfg  Config
	s    Strategy
	me   *engine.MainEngine
	log  *slog.Logger
	ctx  *Context
	done chan struct{}

	// cb is held while callbacks run in inline mode, by whichever
	// goroutine delivers; spare is the delivering goroutine's batch buffer.
	cb    sync.Mutex
	spare []engine.Event
	dead  bool // inline: stopped; deliver nothing more (under mu)

	mu      sync.Mutex
	inbox   []engine.Event
	wake    chan struct{}
	stopped bool
	err     error // why it stopped, for a panic
	unreg   []func()
	orders  map[string]bool           // vt_orderids of its orders
	symbols []engine.SubscribeRequest // cfg.Symbols parsed, for the tick tap
}

// wants reports whether t is of one of the strategy's symbols, comparing
// fields rather than building each tick's vt_symbol (an allocation).
func (r *Runner) wants(t *engine.Tick) bool {
	for _, s := range r.symbols {
		if s.Symbol == t.Symbol && s.Exchange == t.Exchange {
			return true
		}
	}
	return false
}

// Add starts s on its own goroutine: it subscribes the symbols, then calls
// OnStart and delivers events. Stop (or the engine's close) stops it.
func Add(me *engine.MainEngine, cfg Config, s Strategy, log *slog.Logger) (*Runner, error) {
	if cfg.Name == "" || cfg.Gateway == "" {
		return nil, fmt.Errorf("strategy: a name and a gateway are required")
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Inline {
		gw, err := me.Gateway(cfg.Gateway)
		if err != nil {
			return nil, fmt.Errorf("strategy %s: %w", cfg.Name, err)
		}
		if rg, ok := gw.(engine.ReentrantGateway); !ok || !rg.Reentrant() {
			return nil, fmt.Errorf("strategy %s: inline callbacks need a gateway that puts its events holding no lock (engine.ReentrantGateway); %s is not one",
				cfg.Name, cfg.Gateway)
		}
	}
	r := &Runner{cfg: cfg, s: s, me: me, log: log.With("strategy", cfg.Name), done: make(chan struct{}),
		wake: make(chan struct{}, 1), orders: map[string]bool{}}
	r.ctx = &Context{r: r, pos: map[string]float64{}}
	for _, vt := range cfg.Symbols {
		sym, ex, err := engine.ParseVtSymbol(vt)
		if err != nil {
			return nil, err
		}
		if err := me.Subscribe(engine.SubscribeRequest{Symbol: sym, Exchange: ex}, cfg.Gateway); err != nil {
			return nil, fmt.Errorf("strategy %s: subscribe %s: %w", cfg.Name, vt, err)
		}
		r.symbols = append(r.symbols, engine.SubscribeRequest{Symbol: sym, Exchange: ex})
	}
	if cfg.Inline {
		r.cb.Lock() // no callback before OnStart: run unlocks after it
	}
	ev := me.EventEngine()
	// Taps: events reach the strategy's goroutine without waiting for the
	// event engine's dispatcher.
	r.unreg = append(r.unreg,
		ev.RegisterTap(engine.EventTick, func(e engine.Event) {
			if r.wants(e.Data.(*engine.Tick)) {
				r.post(e)
			}
		}),
		ev.RegisterTap(engine.EventOrder, func(e engine.Event) {
			if o := e.Data.(*engine.Order); o.Reference == r.cfg.Name {
				r.post(e)
			}
		}),
		ev.RegisterTap(engine.EventTrade, func(e engine.Event) {
			r.mu.Lock()
			mine := r.orders[e.Data.(*engine.Trade).VtOrderID()]
			r.mu.Unlock()
			if mine {
				r.post(e)
			}
		}))
	go r.run()
	return r, nil
}

// Name is the strategy's name.
func (r *Runner) Name() string { return r.cfg.Name }

func (r *Runner) post(e engine.Event) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	if o, ok := e.Data.(*engine.Order); ok {
		r.orders[o.VtOrderID()] = true // before its trades can arrive
	}
	r.inbox = append(r.inbox, e)
	r.mu.Unlock()
	if r.cfg.Inline {
		r.drain()
		return
	}
	r.signal()
}

// drain delivers the inbox on the calling goroutine (inline mode). If
// another goroutine is delivering, or a callback of this one is running
// (a callback's order put an event), it returns at once: that goroutine
// looks at the inbox again after releasing cb, so nothing is left behind.
func (r *Runner) drain() {
	for {
		if !r.cb.TryLock() {
			return
		}
		r.mu.Lock()
		batch := r.inbox
		r.inbox = r.spare[:0]
		dead := r.dead || r.err != nil
		r.mu.Unlock()
		ok := !dead
		for i := 0; ok && i < len(batch); i++ {
			ok = r.deliver(batch[i])
		}
		clear(batch)
		r.spare = batch[:0]
		r.cb.Unlock()
		if !ok {
			if !dead {
				r.signal() // a panic: the strategy's goroutine ends it
			}
			return
		}
		r.mu.Lock()
		more := len(r.inbox) > 0
		r.mu.Unlock()
		if !more {
			return
		}
	}
}

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// deliver runs the callback for one event; false if it panicked.
func (r *Runner) deliver(e engine.Event) bool {
	switch d := e.Data.(type) {
	case *engine.Tick:
		return r.call(func() { r.s.OnTick(r.ctx, d) })
	case *engine.Order:
		return r.call(func() { r.s.OnOrder(r.ctx, d) })
	case *engine.Trade:
		r.ctx.fill(d)
		return r.call(func() { r.s.OnTrade(r.ctx, d) })
	}
	return true
}

func (r *Runner) run() {
	defer close(r.done)
	defer r.unregister()
	started := r.call(func() { r.s.OnStart(r.ctx) })
	if r.cfg.Inline {
		r.runInline(started)
		return
	}
	if !started {
		return
	}
	var batch []engine.Event
	for {
		<-r.wake
		r.mu.Lock()
		batch, r.inbox = r.inbox, batch[:0]
		stopped := r.stopped
		r.mu.Unlock()
		for _, e := range batch {
			if !r.deliver(e) {
				return
			}
		}
		clear(batch)
		if stopped {
			r.call(func() { r.s.OnStop(r.ctx) })
			return
		}
	}
}

// runInline is the strategy's goroutine in inline mode: it holds cb from
// Add through OnStart, delivers what queued meanwhile, then only waits for
// Stop (or a panic on a delivering goroutine) and calls OnStop.
func (r *Runner) runInline(started bool) {
	r.cb.Unlock()
	if !started {
		return
	}
	r.drain()
	for {
		<-r.wake
		r.mu.Lock()
		stopped, failed := r.stopped, r.err != nil
		r.mu.Unlock()
		if failed {
			return
		}
		if !stopped {
			continue
		}
		r.cb.Lock() // wait for a callback in progress; no more start after this
		defer r.cb.Unlock()
		r.mu.Lock()
		batch := r.inbox
		r.inbox = nil
		r.mu.Unlock()
		for _, e := range batch {
			if !r.deliver(e) {
				return
			}
		}
		r.call(func() { r.s.OnStop(r.ctx) })
		r.mu.Lock()
		r.dead = true // a delivering goroutine that takes cb after this delivers nothing
		r.mu.Unlock()
		return
	}
}

// call runs f, stopping the strategy if it panics.
func (r *Runner) call(f func()) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			r.mu.Lock()
			r.stopped = true
			r.err = fmt.Errorf("strategy %s panicked: %v", r.cfg.Name, p)
			r.mu.Unlock()
			r.log.Error("strategy: panicked; stopped", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	f()
	return true
}

func (r *Runner) unregister() {
	for _, u := range r.unreg {
		u()
	}
}

// Stop delivers what is queued, calls OnStop and waits for the strategy's
// goroutine. It is idempotent; it returns the panic that stopped the
// strategy, if one did.
func (r *Runner) Stop() error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.signal()
	<-r.done
	return r.Err()
}

// Done is closed when the strategy has stopped.
func (r *Runner) Done() <-chan struct{} { return r.done }

// Err is the panic that stopped the strategy, or nil.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Context is what callbacks use to trade; use it on the strategy's
// goroutine only.
type Context struct {
	r   *Runner
	pos map[string]float64 // net position by vt_symbol, from this strategy's fills
}

func (c *Context) fill(t *engine.Trade) {
	v := t.Volume
	if t.Direction == engine.DirectionShort {
		v = -v
	}
	c.pos[t.VtSymbol()] += v
}

// Name is the strategy's name.
func (c *Context) Name() string { return c.r.cfg.Name }

// Pos is the strategy's net position in vtSymbol (long positive), from its
// own fills since it started.
func (c *Context) Pos(vtSymbol string) float64 { return c.pos[vtSymbol] }

// Send sends a limit order with the strategy's reference and returns its
// vt_orderid.
func (c *Context) Send(vtSymbol string, dir engine.Direction, offset engine.Offset, price, volume float64) (string, error) {
	sym, ex, err := engine.ParseVtSymbol(vtSymbol)
	if err != nil {
		return "", err
	}
	id, err := c.r.me.SendOrder(engine.OrderRequest{Symbol: sym, Exchange: ex, Direction: dir, Offset: offset,
		Type: engine.OrderTypeLimit, Price: price, Volume: volume, Reference: c.r.cfg.Name}, c.r.cfg.Gateway)
	if err == nil && id != "" {
		c.r.mu.Lock()
		c.r.orders[id] = true
		c.r.mu.Unlock()
	}
	return id, err
}

// SendRequest sends any order request (FAK, FOK, market …) with the
// strategy's reference and returns its vt_orderid.
func (c *Context) SendRequest(req engine.OrderRequest) (string, error) {
	req.Reference = c.r.cfg.Name
	id, err := c.r.me.SendOrder(req, c.r.cfg.Gateway)
	if err == nil && id != "" {
		c.r.mu.Lock()
		c.r.orders[id] = true
		c.r.mu.Unlock()
	}
	return id, err
}

// Cancel cancels one of the strategy's orders by vt_orderid.
func (c *Context) Cancel(vtOrderID string) error {
	o, ok := c.r.me.Order(vtOrderID)
	if !ok {
		return fmt.Errorf("strategy: %w: %s", engine.ErrUnknownOrder, vtOrderID)
	}
	if o.Reference != c.r.cfg.Name {
		return fmt.Errorf("strategy %s: order %s belongs to %q", c.r.cfg.Name, vtOrderID, o.Reference)
	}
	return c.r.me.CancelOrder(o.CancelRequest(), c.r.cfg.Gateway)
}

// ActiveOrders lists the strategy's orders that may still trade.
func (c *Context) ActiveOrders() []*engine.Order {
	var out []*engine.Order
	for _, o := range c.r.me.AllActiveOrders() {
		if o.Reference == c.r.cfg.Name {
			out = append(out, o)
		}
	}
	return out
}

// Logf logs a line for the strategy.
func (c *Context) Logf(format string, a ...any) { c.r.log.Info(fmt.Sprintf(format, a...)) }
