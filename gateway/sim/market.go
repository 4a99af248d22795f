package sim

import (
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/vnrpc/vnrpc/engine"
)

const levels = 5

// market is the simulated market of one contract. Prices are kept in whole
// price ticks (int64) so the walk never drifts off the tick grid; they are
// converted to float only when reported.
type market struct {
	spec  *Spec
	vt    string
	unit  float64 // a price tick in units of 10^-d, a whole number (d: the tick's decimals)
	scale float64 // 10^d
	rng   *rand.Rand
	bits  uint64 // random bits not yet used by small
	nbits int

	preClose, limitUp, limitDown int64
	last, open, high, low        int64
	volume, turnover, oi         float64
	lastVolume                   float64
	started                      bool // a trade printed today (open/high/low valid)

	// The book: level 0 is the best. A price of 0 with volume 0 is an
	// empty level (beyond the daily limit).
	bid, ask       [levels]int64
	bidVol, askVol [levels]float64

	subscribed bool
	resting    []*order // active limit orders in arrival order
}

func newMarket(spec *Spec, seed uint64) *market {
	h := fnv.New64a()
	_, _ = h.Write([]byte(spec.VtSymbol()))
	scale := math.Pow10(decimals(spec.Pricetick))
	m := &market{spec: spec, vt: spec.VtSymbol(), unit: math.Round(spec.Pricetick * scale), scale: scale,
		rng: rand.New(rand.NewPCG(seed, h.Sum64()))}
	m.newDay(m.ticks(spec.Price))
	m.oi = 0
	if spec.Product == engine.ProductFutures {
		m.oi = float64(1000 + m.rng.IntN(9000))
	}
	m.refreshBook()
	return m
}

// newDay sets the previous close and the daily limits and resets the day's
// statistics.
func (m *market) newDay(preClose int64) {
	m.preClose = preClose
	band := int64(math.Floor(float64(preClose) * m.spec.LimitRatio))
	m.limitUp, m.limitDown = preClose+band, max(preClose-band, 1)
	m.last, m.open, m.high, m.low = preClose, 0, 0, 0
	m.volume, m.turnover, m.lastVolume, m.started = 0, 0, 0, false
}

// ticks converts a price to whole price ticks (rounded to the nearest).
func (m *market) ticks(price float64) int64 { return int64(math.Round(price / m.spec.Pricetick)) }

// price converts whole ticks to a price rounded to the tick's decimals:
// t·unit is the whole number of 10^-d the price is, exact in a
// float64, and one division rounds it to the nearest float64.
func (m *market) price(t int64) float64 {
	return float64(t) * m.unit / m.scale
}

// small returns a random integer in [0, n), n ≤ 1<<16, from 16 bits of
// the generator (four per draw: a tick's 13 numbers cost 4 draws, not 13).
// The bias is below n/65536.
func (m *market) small(n int) int {
	if m.nbits < 16 {
		m.bits, m.nbits = m.rng.Uint64(), 64
	}
	v := int((m.bits & 0xffff) * uint64(n) >> 16)
	m.bits >>= 16
	m.nbits -= 16
	return v
}

func decimals(tick float64) int {
	for d := 0; d < 10; d++ {
		x := tick * math.Pow10(d)
		if math.Abs(x-math.Round(x)) < 1e-9 {
			return d
		}
	}
	return 10
}

// step moves the market one tick: the last price walks by at most one
// price tick within the limits, a trade prints, and the book is redrawn.
func (m *market) step() {
	switch m.small(4) {
	case 0:
		m.last--
	case 3:
		m.last++
	}
	m.last = min(max(m.last, m.limitDown), m.limitUp)
	lots := float64(1+m.small(20)) * m.spec.MinVolume
	m.print(m.last, lots)
	if m.spec.Product == engine.ProductFutures {
		m.oi = max(0, m.oi+float64(m.small(11)-5))
	}
	m.refreshBook()
}

// print records a trade of vol at price p (in ticks) in the day's statistics.
func (m *market) print(p int64, vol float64) {
	if !m.started {
		m.open, m.high, m.low, m.started = p, p, p, true
	}
	m.high, m.low = max(m.high, p), min(m.low, p)
	m.lastVolume = vol
	m.volume += vol
	m.turnover += vol * m.price(p) * m.spec.Size
}

// refreshBook draws a new book around the last price: the best bid at the
// last price, the best ask one tick above, each level 1 tick further out.
func (m *market) refreshBook() {
	for i := range levels {
		b, a := m.last-int64(i), m.last+1+int64(i)
		m.bid[i], m.bidVol[i] = 0, 0
		m.ask[i], m.askVol[i] = 0, 0
		if b >= m.limitDown {
			m.bid[i], m.bidVol[i] = b, float64(1+m.small(50))*m.spec.MinVolume
		}
		if a <= m.limitUp {
			m.ask[i], m.askVol[i] = a, float64(1+m.small(50))*m.spec.MinVolume
		}
	}
}

// fillable returns the volume an order could take from the book now at
// limit price lim (in ticks).
func (m *market) fillable(buy bool, lim int64) float64 {
	var n float64
	for i := range levels {
		if buy && m.askVol[i] > 0 && m.ask[i] <= lim {
			n += m.askVol[i]
		}
		if !buy && m.bidVol[i] > 0 && m.bid[i] >= lim {
			n += m.bidVol[i]
		}
	}
	return n
}

// take removes up to want from the book at prices no worse than lim and
// calls fill for each level it trades against, best level first.
func (m *market) take(buy bool, lim int64, want float64, fill func(price int64, vol float64)) {
	for i := 0; i < levels && want > 0; i++ {
		var p int64
		var v *float64
		if buy {
			p, v = m.ask[i], &m.askVol[i]
			if *v <= 0 || p > lim {
				continue
			}
		} else {
			p, v = m.bid[i], &m.bidVol[i]
			if *v <= 0 || p < lim {
				continue
			}
		}
		q := min(want, *v)
		*v -= q
		want -= q
		m.print(p, q)
		fill(p, q)
	}
}

// tick builds the market data snapshot; the caller stamps its times.
func (m *market) tick(gateway string) *engine.Tick {
	t := &engine.Tick{GatewayName: gateway, Symbol: m.spec.Symbol, Exchange: m.spec.Exchange,
		Name: m.spec.Name, Volume: m.volume, Turnover: m.turnover, OpenInterest: m.oi,
		LastPrice: m.price(m.last), LastVolume: m.lastVolume, LimitUp: m.price(m.limitUp),
		LimitDown: m.price(m.limitDown), PreClose: m.price(m.preClose)}
	if m.started {
		t.OpenPrice, t.HighPrice, t.LowPrice = m.price(m.open), m.price(m.high), m.price(m.low)
	}
	for i := range levels {
		t.BidPrice[i], t.BidVolume[i] = m.price(m.bid[i]), m.bidVol[i]
		t.AskPrice[i], t.AskVolume[i] = m.price(m.ask[i]), m.askVol[i]
	}
	return t
}
