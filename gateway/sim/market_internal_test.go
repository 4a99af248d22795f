package sim

import (
	"math"
	"testing"
)

// price gives exactly what rounding t·pricetick to the tick's decimals
// gives, for every default contract and prices up to ten million ticks.
func TestPriceIsRounded(t *testing.T) {
	for _, sp := range DefaultContracts() {
		m := newMarket(&sp, 1)
		p := math.Pow10(decimals(sp.Pricetick))
		for k := int64(0); k < 10_000_000; k += 1 + k/1000 {
			want := math.Round(float64(k)*sp.Pricetick*p) / p
			if got := m.price(k); got != want {
				t.Fatalf("%s: price(%d) = %v, want %v", sp.Symbol, k, got, want)
			}
		}
	}
}

// small covers [0, n) evenly enough: each value of 50 turns up within
// 10 % of its share in 100 000 draws, and nothing outside the range.
func TestSmallIsUniform(t *testing.T) {
	sp := DefaultContracts()[0]
	m := newMarket(&sp, 7)
	const n, draws = 50, 100_000
	var count [n]int
	for range draws {
		v := m.small(n)
		if v < 0 || v >= n {
			t.Fatalf("small(%d) = %d", n, v)
		}
		count[v]++
	}
	for v, c := range count {
		if math.Abs(float64(c)-draws/n) > 0.1*draws/n {
			t.Errorf("value %d drawn %d times, want about %d", v, c, draws/n)
		}
	}
}
