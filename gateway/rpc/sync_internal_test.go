package rpc

import (
	"testing"

	"github.com/vnrpc/vnrpc/engine"
)

// Ticks of symbols that share a name on two exchanges, interleaved with a
// third, each land in their own slot; the last slot is reused only for
// the same symbol and exchange.
func TestTickSlots(t *testing.T) {
	m := newMirror()
	ticks := []*engine.Tick{
		{Symbol: "rb2601", Exchange: engine.ExchangeSHFE, LastPrice: 1},
		{Symbol: "rb2601", Exchange: engine.ExchangeDCE, LastPrice: 2},
		{Symbol: "ag2602", Exchange: engine.ExchangeSHFE, LastPrice: 3},
	}
	slots := map[*entry[engine.Tick]]bool{}
	for round := range 3 {
		for i, tk := range ticks {
			e := m.tickSlot(tk)
			if e.v.Symbol != tk.Symbol || e.v.Exchange != tk.Exchange {
				t.Fatalf("round %d: the slot of %s.%s holds %s.%s", round, tk.Symbol, tk.Exchange, e.v.Symbol, e.v.Exchange)
			}
			if round > 0 && e.v.LastPrice != tk.LastPrice {
				t.Fatalf("round %d: the slot of tick %d holds price %v, want %v", round, i, e.v.LastPrice, tk.LastPrice)
			}
			if again := m.tickSlot(tk); again != e {
				t.Fatalf("round %d: a second look-up of tick %d gave another slot", round, i)
			}
			*e = entry[engine.Tick]{*tk, uint64(round)}
			slots[e] = true
		}
	}
	if len(slots) != 3 || len(m.ticks) != 3 {
		t.Fatalf("%d slots handed out, %d recorded; want 3", len(slots), len(m.ticks))
	}
}
