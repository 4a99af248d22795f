package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// drain waits until e has handled every event put so far, general
// handlers included: the second marker's type handler runs only after
// every handler of the first.
func drain(t testing.TB, e *EventEngine) {
	t.Helper()
	done := make(chan struct{})
	unreg := e.Register("test.drain2", func(Event) { close(done) })
	defer unreg()
	e.Put(Event{Type: "test.drain"})
	e.Put(Event{Type: "test.drain2"})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("event engine did not drain in 10 s")
	}
}

func TestEventsDispatchInOrderTypeThenGeneral(t *testing.T) {
	e := NewEventEngine(WithTimerInterval(0))
	e.Start()
	defer e.Stop()
	var got []string
	e.Register("a", func(ev Event) { got = append(got, "a1:"+ev.Data.(string)) })
	e.RegisterGeneral(func(ev Event) {
		if !strings.HasPrefix(ev.Type, "test.") {
			got = append(got, "g:"+ev.Data.(string))
		}
	})
	e.Register("a", func(ev Event) { got = append(got, "a2:"+ev.Data.(string)) })
	e.Register("b", func(ev Event) { got = append(got, "b:"+ev.Data.(string)) })
	var wg sync.WaitGroup
	// One producer's events keep their order even with other producers racing.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 1000 {
			e.Put(Event{Type: "noise", Data: "n"})
		}
	}()
	e.Put(Event{Type: "a", Data: "1"})
	e.Put(Event{Type: "b", Data: "2"})
	e.Put(Event{Type: "a", Data: "3"})
	wg.Wait()
	drain(t, e)
	var mine []string
	for _, s := range got {
		if !strings.HasSuffix(s, ":n") {
			mine = append(mine, s)
		}
	}
	want := "a1:1 a2:1 g:1 b:2 g:2 a1:3 a2:3 g:3"
	if s := strings.Join(mine, " "); s != want {
		t.Fatalf("dispatch order\n got %s\nwant %s", s, want)
	}
	if n := len(got) - len(mine); n != 1000 {
		t.Fatalf("general handler saw %d of 1000 noise events", n)
	}
}

func TestPanickingHandlerIsIsolated(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	e := NewEventEngine(WithTimerInterval(0), WithLogger(slog.New(slog.NewTextHandler(&lockedWriter{&logs, &logMu}, nil))))
	e.Start()
	defer e.Stop()
	var after, general int
	e.Register("boom", func(Event) { panic("handler bug") })
	e.Register("boom", func(Event) { after++ })
	e.RegisterGeneral(func(ev Event) {
		if !strings.HasPrefix(ev.Type, "test.") {
			general++
		}
	})
	for range 3 {
		e.Put(Event{Type: "boom"})
	}
	drain(t, e)
	if after != 3 || general != 3 {
		t.Fatalf("after a panic: next handler ran %d/3, general %d/3", after, general)
	}
	if e.Panics() != 3 {
		t.Errorf("Panics() = %d", e.Panics())
	}
	logMu.Lock()
	defer logMu.Unlock()
	if s := logs.String(); !strings.Contains(s, "event=boom") || !strings.Contains(s, "handler bug") || !strings.Contains(s, "event_test.go") {
		t.Errorf("panic log lacks the event type, the value or the stack:\n%s", s)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestTimerEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Inside the bubble the clock is fake: it jumps to the next timer
		// whenever every goroutine is blocked, so this takes no real time.
		e := NewEventEngine(WithTimerInterval(250 * time.Millisecond))
		fired := make(chan time.Duration)
		start := time.Now()
		e.Register(EventTimer, func(Event) { fired <- time.Since(start) })
		e.Start()
		for i := 1; i <= 4; i++ {
			if got, want := <-fired, time.Duration(i)*250*time.Millisecond; got != want {
				t.Fatalf("timer event %d at %v, want %v", i, got, want)
			}
		}
		go func() {
			for range fired { // let a timer event already queued finish while stopping
			}
		}()
		e.Stop()
		close(fired)
	})
}

func TestUnregister(t *testing.T) {
	e := NewEventEngine(WithTimerInterval(0))
	e.Start()
	defer e.Stop()
	var a, g int
	ua := e.Register("x", func(Event) { a++ })
	ug := e.RegisterGeneral(func(ev Event) {
		if !strings.HasPrefix(ev.Type, "test.") {
			g++
		}
	})
	e.Put(Event{Type: "x"})
	drain(t, e)
	ua()
	ug()
	ua() // twice is harmless
	e.Put(Event{Type: "x"})
	drain(t, e)
	if a != 1 || g != 1 {
		t.Fatalf("after unregister: a=%d g=%d, want 1 and 1", a, g)
	}
}

func TestStopDrainsThenDrops(t *testing.T) {
	e := NewEventEngine(WithTimerInterval(0))
	var n atomic.Int64
	release := make(chan struct{})
	e.Register("slow", func(Event) { <-release })
	e.Register("x", func(Event) { n.Add(1) })
	e.Put(Event{Type: "x"}) // before Start: waits
	e.Start()
	e.Put(Event{Type: "slow"})
	for range 100 {
		e.Put(Event{Type: "x"})
	}
	stopped := make(chan struct{})
	go func() { e.Stop(); close(stopped) }()
	// The 100 events after the blocked handler cannot have run yet.
	if got := n.Load(); got > 1 {
		t.Fatalf("%d events ran past a blocked handler", got)
	}
	close(release)
	<-stopped
	if n.Load() != 101 {
		t.Fatalf("Stop handled %d of the 101 events put before it", n.Load())
	}
	e.Put(Event{Type: "x"})
	if n.Load() != 101 || e.Dropped() != 1 {
		t.Fatalf("event after Stop: handled=%d dropped=%d", n.Load(), e.Dropped())
	}
	e.Stop() // idempotent
}

func TestPutFromHandlerAndManyProducers(t *testing.T) {
	e := NewEventEngine(WithTimerInterval(0))
	e.Start()
	defer e.Stop()
	var got atomic.Int64 // read while chained pings are still being handled
	e.Register("ping", func(ev Event) {
		if k := ev.Data.(int); k > 0 {
			e.Put(Event{Type: "ping", Data: k - 1})
		}
		got.Add(1)
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				e.Put(Event{Type: "ping", Data: 0})
			}
		}()
	}
	e.Put(Event{Type: "ping", Data: 100})
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		drain(t, e)
		if got.Load() == 8000+101 || time.Now().After(deadline) {
			break
		}
	}
	if got.Load() != 8101 {
		t.Fatalf("handled %d events, want 8101", got.Load())
	}
}

// After Stop, taps no longer run, and every event put is counted as
// dropped, also one that only taps or nothing at all would have seen.
func TestTapsAfterStop(t *testing.T) {
	e := NewEventEngine(WithTimerInterval(0))
	e.Start()
	var tapped atomic.Int64
	e.RegisterTap("t", func(Event) { tapped.Add(1) })
	e.Put(Event{Type: "t"})
	e.Stop()
	e.Put(Event{Type: "t"})
	e.Put(Event{Type: "nobody"})
	if tapped.Load() != 1 || e.Dropped() != 2 {
		t.Fatalf("after Stop: tapped %d (want 1), dropped %d (want 2)", tapped.Load(), e.Dropped())
	}
}

// A producer that outruns the dispatcher on one P yields to it: the queue
// stays near yieldEvery events instead of holding everything the producer
// puts before it blocks.
func TestProducerYieldsToDispatcher(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e := NewEventEngine(WithTimerInterval(0))
	e.Start()
	defer e.Stop()
	var got atomic.Int64
	e.Register("tick", func(Event) { got.Add(1) })
	const n = 20 * yieldEvery
	peak := 0
	for i := range n {
		e.Put(Event{Type: "tick", Data: i})
		peak = max(peak, e.Pending())
	}
	drain(t, e)
	if got.Load() != n {
		t.Fatalf("handled %d events, want %d", got.Load(), n)
	}
	if peak > 4*yieldEvery {
		t.Fatalf("the queue reached %d events (yield every %d): the producer did not yield", peak, yieldEvery)
	}
}

// Taps see each event synchronously inside Put, on the putting goroutine,
// before queued handlers; a panicking tap is isolated; removal works.
func TestTaps(t *testing.T) {
	e := NewEventEngine(WithTimerInterval(0), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	e.Start()
	defer e.Stop()
	var tapped []string
	handled := make(chan string, 10)
	unTyped := e.RegisterTap("a", func(ev Event) { tapped = append(tapped, "typed:"+ev.Type) })
	e.RegisterTap("", func(ev Event) { tapped = append(tapped, "all:"+ev.Type) })
	e.RegisterTap("a", func(Event) { panic("boom") })
	e.Register("a", func(ev Event) { handled <- ev.Type })
	e.Put(Event{Type: "a"})
	// Put has returned: the taps ran on this goroutine already.
	if got := strings.Join(tapped, ","); got != "typed:a,all:a" {
		t.Fatalf("taps after Put: %q", got)
	}
	if e.Panics() != 1 {
		t.Errorf("panics %d, want 1", e.Panics())
	}
	if got := <-handled; got != "a" {
		t.Fatalf("handler got %q", got)
	}
	unTyped()
	tapped = nil
	e.Put(Event{Type: "a"})
	if got := strings.Join(tapped, ","); got != "all:a" {
		t.Fatalf("taps after removal: %q", got)
	}
	<-handled
}

// An event with taps but no queued handler runs its taps and is not
// queued: the dispatcher is not woken for it. A general handler, or one of
// its type, makes it queue again.
func TestUnhandledEventsAreNotQueued(t *testing.T) {
	e := NewEventEngine(WithTimerInterval(0)) // not started: the queue only grows
	var tapped int
	e.RegisterTap("tick", func(Event) { tapped++ })
	e.Put(Event{Type: "tick"})
	e.Put(Event{Type: "tick.x"})
	if tapped != 1 || e.Pending() != 0 {
		t.Fatalf("no handlers: tapped %d, pending %d; want 1, 0", tapped, e.Pending())
	}
	unreg := e.Register("tick", func(Event) {})
	e.Put(Event{Type: "tick"})
	e.Put(Event{Type: "tick.x"})
	if e.Pending() != 1 {
		t.Fatalf("a tick handler: pending %d, want 1", e.Pending())
	}
	unreg()
	e.RegisterGeneral(func(Event) {})
	e.Put(Event{Type: "tick.x"})
	if e.Pending() != 2 {
		t.Fatalf("a general handler: pending %d, want 2", e.Pending())
	}
}

// A gateway builds and puts the keyed copy of an event (eTick.rb2601.SHFE)
// only while something could see it: a handler or tap for a keyed type of
// that general type, or a general handler.
func TestKeyedCopiesOnlyWhenWanted(t *testing.T) {
	e := NewEventEngine(WithTimerInterval(0))
	g := NewGatewayBase(e, "SIM")
	var seen []string
	record := func(ev Event) { seen = append(seen, ev.Type) }
	e.RegisterTap(EventTick, record)
	tick := &Tick{Symbol: "rb2601", Exchange: ExchangeSHFE}
	want := func(wanted bool, types ...string) {
		t.Helper()
		seen = nil
		if got := e.wantsKeyedOf(EventTick); got != wanted {
			t.Errorf("wantsKeyedOf(%q) = %v, want %v", EventTick, got, wanted)
		}
		g.OnTick(tick)
		if fmt.Sprint(seen) != fmt.Sprint(types) {
			t.Errorf("taps saw %v, want %v", seen, types)
		}
	}
	keyed := EventTick + tick.VtSymbol()
	want(false, EventTick)
	if e.wantsKeyedOf(EventOrder) {
		t.Error("WantsKeyed(eOrder.) with no order handlers")
	}
	unreg := e.RegisterTap(keyed, record)
	want(true, EventTick, keyed)
	unreg()
	want(false, EventTick)
	unreg = e.Register(EventTick+"other.SHFE", func(Event) {})
	want(true, EventTick)
	if e.wantsKeyedOf(EventOrder) {
		t.Error("a keyed tick handler made eOrder. keyed")
	}
	unreg()
	unreg = e.RegisterGeneral(func(Event) {})
	want(true, EventTick)
	unreg()
	want(false, EventTick)

	// A tap on every event (typ "") does not ask for keyed copies, and
	// sees none when something else does.
	var unkeyed []string
	unreg = e.RegisterTap("", func(ev Event) { unkeyed = append(unkeyed, ev.Type) })
	want(false, EventTick)
	unregKeyed := e.RegisterTap(keyed, record)
	want(true, EventTick, keyed)
	unregKeyed()
	unreg()
	want(false, EventTick)
	if fmt.Sprint(unkeyed) != fmt.Sprint([]string{EventTick, EventTick}) {
		t.Errorf("the unkeyed tap saw %v, want the general tick twice", unkeyed)
	}
}

// Sync returns once every event put before it has been handled, or when
// its context ends first.
func TestSyncWaitsForQueuedEvents(t *testing.T) {
	ev := NewEventEngine(WithTimerInterval(0))
	var handled atomic.Int64
	release := make(chan struct{})
	ev.Register("slow", func(Event) {
		<-release
		handled.Add(1)
	})
	ev.Start()
	defer ev.Stop()
	for range 100 {
		ev.Put(Event{Type: "slow"})
	}
	// The handlers are held: Sync can only end with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := ev.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) || handled.Load() != 0 {
		t.Fatalf("Sync with the handlers held: %v, %d handled", err, handled.Load())
	}
	done := make(chan error, 1)
	go func() { done <- ev.Sync(context.Background()) }()
	close(release)
	select {
	case err := <-done:
		if err != nil || handled.Load() != 100 {
			t.Fatalf("Sync: %v with %d of 100 handled", err, handled.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sync never returned")
	}
}
