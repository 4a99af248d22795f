package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event types, as vn.py names them. The general types end in a dot; the
// specific event of an object appends its key (eTick.rb2601.SHFE,
// eOrder.SIM.3 …). Contracts and logs have only the general event.
const (
	EventTimer    = "eTimer"
	EventTick     = "eTick."
	EventTrade    = "eTrade."
	EventOrder    = "eOrder."
	EventPosition = "ePosition."
	EventAccount  = "eAccount."
	EventQuote    = "eQuote."
	EventContract = "eContract."
	EventLog      = "eLog"
)

// Event is what flows through the EventEngine. Data is usually a pointer to
// one of the data objects (*Tick, *Order …) and is read-only once put.
type Event struct {
	Type string
	Data any
}

// Handler handles one event. It runs on the engine's dispatcher goroutine and
// must not block: slow work belongs on a goroutine of its own.
type Handler func(Event)

// EventEngine dispatches events to handlers on a single goroutine, in the
// order they were put: the handlers registered for the event's type first,
// then the general handlers, each in registration order. A handler that
// panics is logged with the event type and stack and skipped; dispatch goes
// on. A timer event (EventTimer) is put every interval while started.
//
// All methods are safe for concurrent use, and handlers may call Put,
// Register and Unregister.
type EventEngine struct {
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	queue   []Event // events waiting for the dispatcher
	spare   []Event // the dispatcher's last batch, reused to avoid allocation
	state   int     // stateNew, stateRunning, stateStopped
	notify  chan struct{}
	quit    chan struct{}
	done    sync.WaitGroup
	nextID  uint64
	regMu   sync.Mutex // serializes handler-table rewrites
	table   atomic.Pointer[handlerTable]
	panics  atomic.Uint64
	dropped atomic.Uint64
	stopped atomic.Bool // state == stateStopped, read by Put without mu

	// Sync's bookkeeping, under mu: events queued and dispatched so far,
	// and a channel closed after each batch while someone waits.
	queued, dispatched uint64
	syncers            int
	progress           chan struct{}
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

type handlerEntry struct {
	id uint64
	h  Handler
}

// handlerTable is copied on write, so dispatch reads it without a lock.
type handlerTable struct {
	byType  map[string][]handlerEntry
	general []handlerEntry
	taps    map[string][]handlerEntry
	tapsAll []handlerEntry // taps on every event but keyed copies
	routes  map[string]route
	tick    route // routes[EventTick], the busiest type, without the look-up
}

// route is what Put needs to know of one event type, in one look-up.
type route struct {
	taps   []handlerEntry // the type's taps
	queued bool           // the type has handlers
	keyed  bool           // a general type (eTick.) with a handler or tap for a keyed type of it (eTick.rb2601.SHFE)
}

// keyedOf reports whether typ is a keyed copy's type, a general type
// (which ends in a dot, as eTick. does) followed by a key, and returns
// that general type. By vn.py's convention no other event type has a dot
// before its end.
func keyedOf(typ string) (general string, keyed bool) {
	i := strings.IndexByte(typ, '.')
	if i < 0 || i == len(typ)-1 {
		return "", false
	}
	return typ[:i+1], true
}

// index fills routes from byType and taps.
func (t *handlerTable) index() *handlerTable {
	t.routes = map[string]route{}
	set := func(typ string, f func(*route)) {
		r := t.routes[typ]
		f(&r)
		t.routes[typ] = r
	}
	for typ, l := range t.taps {
		set(typ, func(r *route) { r.taps = l })
	}
	for typ := range t.byType {
		set(typ, func(r *route) { r.queued = true })
	}
	for _, m := range []map[string][]handlerEntry{t.byType, t.taps} {
		for typ := range m {
			if general, ok := keyedOf(typ); ok {
				set(general, func(r *route) { r.keyed = true })
			}
		}
	}
	t.tick = t.routes[EventTick]
	return t
}

// EventEngineOption configures an EventEngine.
type EventEngineOption func(*EventEngine)

// WithTimerInterval sets the timer event's interval (default 1 s). Zero or
// less turns the timer off.
func WithTimerInterval(d time.Duration) EventEngineOption {
	return func(e *EventEngine) { e.interval = d }
}

// WithLogger sets where the engine logs handler panics (default slog.Default()).
func WithLogger(l *slog.Logger) EventEngineOption {
	return func(e *EventEngine) { e.log = l }
}

// NewEventEngine returns a stopped engine; Start starts it.
func NewEventEngine(opts ...EventEngineOption) *EventEngine {
	e := &EventEngine{interval: time.Second, log: slog.Default(),
		notify: make(chan struct{}, 1), quit: make(chan struct{})}
	for _, o := range opts {
		o(e)
	}
	e.table.Store((&handlerTable{byType: map[string][]handlerEntry{}, taps: map[string][]handlerEntry{}}).index())
	return e
}

// Start starts the dispatcher goroutine and, if the interval is positive,
// the timer goroutine. Stop stops and waits for both. Starting a running or
// stopped engine does nothing.
func (e *EventEngine) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateNew {
		return
	}
	e.state = stateRunning
	e.done.Add(1)
	go e.dispatch()
	if e.interval > 0 {
		e.done.Add(1)
		go e.timer()
	}
}

// Stop stops the timer, lets the dispatcher handle every event put before
// Stop was called (it drains the queue), and waits for both goroutines.
// Events put after Stop are discarded and counted (Dropped). Stop is
// idempotent. It must not be called from a handler: it waits for the
// dispatcher, which would be waiting for that handler.
func (e *EventEngine) Stop() {
	e.mu.Lock()
	switch e.state {
	case stateStopped:
		e.mu.Unlock()
		return
	case stateNew:
		e.state = stateStopped
		e.stopped.Store(true)
		e.mu.Unlock()
		return
	}
	e.state = stateStopped
	e.stopped.Store(true)
	close(e.quit)
	e.mu.Unlock()
	e.done.Wait()
}

// Sync waits until the dispatcher has handled every event queued before
// the call (their handlers have returned), or ctx ends, or the engine
// stops. A reader of state that handlers keep (the OMS) calls it to see
// everything put so far. It must not be called from a handler.
func (e *EventEngine) Sync(ctx context.Context) error {
	e.mu.Lock()
	target := e.queued
	e.syncers++
	if e.progress == nil {
		e.progress = make(chan struct{})
	}
	defer func() { e.mu.Lock(); e.syncers--; e.mu.Unlock() }()
	for e.dispatched < target {
		if e.state == stateStopped {
			e.mu.Unlock()
			e.done.Wait() // Stop drains the queue: what was put is handled
			return nil
		}
		ch := e.progress
		e.mu.Unlock()
		select {
		case <-ch:
		case <-e.quit:
		case <-ctx.Done():
			return ctx.Err()
		}
		e.mu.Lock()
	}
	e.mu.Unlock()
	return nil
}

// Put queues an event for dispatch. It never blocks (the queue is
// unbounded, like vn.py's; a producer yields its thread once every
// yieldEvery events the dispatcher has not taken) and is safe from any
// goroutine, handlers included. Events put before Start wait for it; events put after Stop are
// dropped. An event that no handler (of its type, or general) is
// registered for when it is put is not queued at all, after its taps: the
// per-key copy of each event (eTick.rb2601.SHFE) that nothing listens to
// costs the dispatcher nothing. (Registration is not ordered with Put in
// vn.py either: a handler added while events flow may miss some already
// put.)
func (e *EventEngine) Put(ev Event) { e.put(ev, e.table.Load()) }

// putGeneral puts ev, of a general type (eTick.), and reports whether its
// keyed copy is wanted (wantsKeyed), from the same look-up.
func (e *EventEngine) putGeneral(ev Event) (keyed bool) {
	t := e.table.Load()
	return t.wantsKeyed(e.put(ev, t))
}

// wantsKeyed reports whether the keyed copies of a general type routed
// by r could reach anything: a handler or tap registered for a keyed type
// of it, or a general handler. A producer need not build (or put) the
// keyed copy otherwise.
func (t *handlerTable) wantsKeyed(r route) bool {
	return len(t.general) > 0 || r.keyed
}

// put runs ev's taps and queues it for its handlers, as t routes it, and
// returns its route. An event with taps only takes no lock.
func (e *EventEngine) put(ev Event, t *handlerTable) route {
	r := t.tick
	if ev.Type != EventTick {
		r = t.routes[ev.Type]
	}
	if (len(r.taps) > 0 || len(t.tapsAll) > 0) && !e.stopped.Load() {
		for _, x := range r.taps {
			e.call(x.h, ev)
		}
		if len(t.tapsAll) > 0 {
			if _, keyed := keyedOf(ev.Type); !keyed {
				for _, x := range t.tapsAll {
					e.call(x.h, ev)
				}
			}
		}
	}
	if !r.queued && len(t.general) == 0 {
		if e.stopped.Load() {
			e.dropped.Add(1)
		}
		return r
	}
	e.mu.Lock()
	if e.state == stateStopped {
		e.mu.Unlock()
		e.dropped.Add(1)
		return r
	}
	e.queue = append(e.queue, ev)
	n := len(e.queue)
	e.queued++
	e.mu.Unlock()
	switch {
	case n == 1:
		select {
		case e.notify <- struct{}{}:
		default:
		}
	case n%yieldEvery == 0:
		runtime.Gosched()
	}
	return r
}

// wantsKeyedOf reports whether a keyed copy of an event of the general
// type (eTick.rb2601.SHFE for eTick.) could reach anything (wantsKeyed).
func (e *EventEngine) wantsKeyedOf(general string) bool {
	t := e.table.Load()
	return t.wantsKeyed(t.routes[general])
}

// Register adds h for events of type typ and returns a function that removes it.
func (e *EventEngine) Register(typ string, h Handler) (unregister func()) {
	id := e.update(func(t *handlerTable) uint64 {
		e.nextID++
		t.byType[typ] = append(t.byType[typ], handlerEntry{e.nextID, h})
		return e.nextID
	})
	return func() { e.remove(typ, id, false) }
}

// RegisterGeneral adds h for every event and returns a function that removes it.
func (e *EventEngine) RegisterGeneral(h Handler) (unregister func()) {
	id := e.update(func(t *handlerTable) uint64 {
		e.nextID++
		t.general = append(t.general, handlerEntry{e.nextID, h})
		return e.nextID
	})
	return func() { e.remove("", id, true) }
}

// RegisterTap adds h as a tap for events of type typ, or with typ "" for
// every event except the keyed copies (eTick.rb2601.SHFE; eTick. itself is
// seen), and returns a function that removes it.
//
// Taps are the engine's one deliberate performance mechanism: a tap runs
// synchronously inside Put, on the putting goroutine, before the event is
// queued, so it sees the event without the dispatcher's hand-off (a
// goroutine wake-up, tens of microseconds on a small machine). The RPC
// service publishes through one, a strategy takes its ticks through
// them, the OMS records ticks with one. Taps of one event run in
// registration order, but taps may run concurrently for events put from
// different goroutines; a tap must be quick, must not block and must not
// call Stop. A panicking tap is logged and skipped. An event with taps
// only (no handler) is never queued.
func (e *EventEngine) RegisterTap(typ string, h Handler) (unregister func()) {
	id := e.update(func(t *handlerTable) uint64 {
		e.nextID++
		if typ == "" {
			t.tapsAll = append(t.tapsAll, handlerEntry{e.nextID, h})
		} else {
			t.taps[typ] = append(t.taps[typ], handlerEntry{e.nextID, h})
		}
		return e.nextID
	})
	return func() {
		e.update(func(t *handlerTable) uint64 {
			if typ == "" {
				t.tapsAll = without(t.tapsAll, id)
			} else if l := without(t.taps[typ], id); len(l) > 0 {
				t.taps[typ] = l
			} else {
				delete(t.taps, typ)
			}
			return 0
		})
	}
}

func (e *EventEngine) remove(typ string, id uint64, general bool) {
	e.update(func(t *handlerTable) uint64 {
		if general {
			t.general = without(t.general, id)
			return 0
		}
		if l := without(t.byType[typ], id); len(l) > 0 {
			t.byType[typ] = l
		} else {
			delete(t.byType, typ)
		}
		return 0
	})
}

func without(l []handlerEntry, id uint64) []handlerEntry {
	out := make([]handlerEntry, 0, len(l))
	for _, x := range l {
		if x.id != id {
			out = append(out, x)
		}
	}
	return out
}

// update applies f to a copy of the handler table and publishes the copy.
func (e *EventEngine) update(f func(*handlerTable) uint64) uint64 {
	e.regMu.Lock()
	defer e.regMu.Unlock()
	old := e.table.Load()
	t := &handlerTable{byType: make(map[string][]handlerEntry, len(old.byType)), general: old.general,
		taps: make(map[string][]handlerEntry, len(old.taps)), tapsAll: old.tapsAll}
	for k, v := range old.byType {
		t.byType[k] = v
	}
	for k, v := range old.taps {
		t.taps[k] = v
	}
	id := f(t)
	e.table.Store(t.index())
	return id
}

// Panics returns how many handler calls panicked so far.
func (e *EventEngine) Panics() uint64 { return e.panics.Load() }

// Dropped returns how many events were put after Stop and discarded.
func (e *EventEngine) Dropped() uint64 { return e.dropped.Load() }

// Pending returns how many events wait for dispatch.
func (e *EventEngine) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.queue)
}

func (e *EventEngine) dispatch() {
	defer e.done.Done()
	for {
		e.mu.Lock()
		batch := e.queue
		e.queue = e.spare[:0]
		stopping := e.state == stateStopped
		e.mu.Unlock()
		for i := range batch {
			e.process(batch[i])
			batch[i] = Event{} // let the GC have the payload
		}
		e.mu.Lock()
		e.spare = batch[:0]
		e.dispatched += uint64(len(batch))
		if e.syncers > 0 {
			close(e.progress)
			e.progress = make(chan struct{})
		}
		empty := len(e.queue) == 0
		e.mu.Unlock()
		if !empty {
			continue
		}
		if stopping {
			return
		}
		select {
		case <-e.notify:
		case <-e.quit:
			// One more pass drains what was put before Stop.
			e.mu.Lock()
			empty := len(e.queue) == 0
			e.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

func (e *EventEngine) process(ev Event) {
	t := e.table.Load()
	for _, x := range t.byType[ev.Type] {
		e.call(x.h, ev)
	}
	for _, x := range t.general {
		e.call(x.h, ev)
	}
}

func (e *EventEngine) call(h Handler, ev Event) {
	defer func() {
		if r := recover(); r != nil {
			e.panics.Add(1)
			e.log.Error("engine: event handler panicked; event skipped for this handler",
				"event", ev.Type, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	h(ev)
}

func (e *EventEngine) timer() {
	defer e.done.Done()
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-e.quit:
			return
		case <-t.C:
			e.Put(Event{Type: EventTimer})
		}
	}
}

// yieldEvery: a producer that has put this many events the dispatcher has
// not taken yet yields once, so that the dispatcher runs. Without it a
// producer sharing a P with the dispatcher (GOMAXPROCS=1, or a busy host)
// runs until it blocks or is preempted, up to 10 ms of events; they stay
// live in the queue, the heap grows into fresh pages, and each event is
// out of the cache by the time its handlers see it.
const yieldEvery = 256
