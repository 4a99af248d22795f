package cli

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/vnrpc/vnrpc/engine"
)

// subscriber subscribes a gateway to symbols as their contracts arrive,
// off the event engine's goroutine (a gateway's Subscribe may wait on the
// network). Close waits for subscriptions in flight; close the engine
// first, which ends them.
type subscriber struct {
	me    *engine.MainEngine
	gw    string
	log   *slog.Logger
	want  map[string]bool
	mu    sync.Mutex
	done  map[string]bool
	wg    sync.WaitGroup
	unreg func()
}

// subscribeWhenListed starts subscribing gw to symbols (vt_symbols) as
// their contracts are reported.
func subscribeWhenListed(me *engine.MainEngine, gw string, symbols []string, log *slog.Logger) *subscriber {
	s := &subscriber{me: me, gw: gw, log: log, want: map[string]bool{}, done: map[string]bool{}}
	for _, vt := range symbols {
		s.want[vt] = true
	}
	s.unreg = me.EventEngine().Register(engine.EventContract, func(e engine.Event) {
		if c := e.Data.(*engine.Contract); c.GatewayName == gw && s.want[c.VtSymbol()] {
			s.subscribe(c.VtSymbol())
		}
	})
	return s
}

func (s *subscriber) subscribe(vt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done[vt] {
		return
	}
	s.done[vt] = true
	sym, ex, _ := engine.ParseVtSymbol(vt)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.me.Subscribe(engine.SubscribeRequest{Symbol: sym, Exchange: ex}, s.gw); err != nil {
			s.log.Warn("subscribe", "symbol", vt, "err", err)
		}
	}()
}

// unlisted waits until the event engine has taken in what the gateway
// reported so far, and returns the wanted symbols it does not list, with
// what it lists; nothing while it has listed no contract yet (a remote
// gateway lists them once connected).
func (s *subscriber) unlisted(ctx context.Context) (missing []string, listed string) {
	if err := s.me.EventEngine().Sync(ctx); err != nil {
		return nil, ""
	}
	var have []string
	for _, c := range s.me.AllContracts() {
		if c.GatewayName == s.gw {
			have = append(have, c.VtSymbol())
		}
	}
	if len(have) == 0 {
		return nil, ""
	}
	for vt := range s.want {
		if !slices.Contains(have, vt) {
			missing = append(missing, vt)
		}
	}
	slices.Sort(missing)
	return missing, strings.Join(have, ", ")
}

// Close stops subscribing and waits for the subscriptions in flight. A
// nil subscriber is closed.
func (s *subscriber) Close() {
	if s == nil {
		return
	}
	s.unreg()
	s.wg.Wait()
}
