package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/vnrpc/vnrpc/engine"
)

// MaxHistoryBars bounds one QueryHistory answer.
const MaxHistoryBars = 100_000

// QueryHistory returns bars of minute, hour, daily or weekly interval
// between Start (inclusive) and End (exclusive; zero means now), aligned to
// whole intervals in UTC. A bar is a pure function of the seed, the contract
// and its start time, so overlapping queries agree.
func (g *Gateway) QueryHistory(req engine.HistoryRequest) ([]engine.Bar, error) {
	g.mu.Lock()
	if g.state != stateConnected {
		g.mu.Unlock()
		return nil, engine.ErrNotConnected
	}
	m, ok := g.markets[req.VtSymbol()]
	seed := g.set.seed
	now := g.opts.Clock()
	g.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownContract, req.VtSymbol())
	}
	var step time.Duration
	switch req.Interval {
	case engine.IntervalMinute:
		step = time.Minute
	case engine.IntervalHour:
		step = time.Hour
	case engine.IntervalDaily:
		step = 24 * time.Hour
	case engine.IntervalWeekly:
		step = 7 * 24 * time.Hour
	default:
		return nil, fmt.Errorf("sim: history interval %q is not supported (1m, 1h, d, w)", req.Interval.String())
	}
	end := req.End
	if end.IsZero() {
		end = now
	}
	if req.Start.IsZero() || !req.Start.Before(end) {
		return nil, fmt.Errorf("sim: history: start %v must be set and before end %v", req.Start, end)
	}
	first := req.Start.UnixNano() / int64(step)
	if req.Start.UnixNano()%int64(step) != 0 {
		first++
	}
	last := (end.UnixNano() - 1) / int64(step)
	n := last - first + 1
	if n > MaxHistoryBars {
		return nil, fmt.Errorf("sim: history: %d bars asked, at most %d per query", n, MaxHistoryBars)
	}
	if n <= 0 {
		return []engine.Bar{}, nil
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(m.vt))
	_, _ = h.Write([]byte(req.Interval.String()))
	key := h.Sum64() ^ seed*0x9e3779b97f4a7c15
	sp := m.spec
	bars := make([]engine.Bar, 0, n)
	for k := first; k <= last; k++ {
		open, cls := m.price(m.ticks(curve(key, k-1, sp.Price))), m.price(m.ticks(curve(key, k, sp.Price)))
		wick := func(salt uint64) float64 { return math.Floor(unit(key^salt, k)*4) * sp.Pricetick }
		hi := m.price(m.ticks(math.Max(open, cls) + wick(0xa1)))
		lo := m.price(m.ticks(math.Max(sp.Pricetick, math.Min(open, cls)-wick(0xb2))))
		vol := math.Floor(1+unit(key^0xc3, k)*1000) * sp.MinVolume
		bars = append(bars, engine.Bar{GatewayName: g.Name(), Symbol: sp.Symbol, Exchange: sp.Exchange,
			Datetime: time.Unix(0, k*int64(step)).UTC(), Interval: req.Interval, Volume: vol,
			Turnover: vol * (open + cls) / 2 * sp.Size, OpenPrice: open, HighPrice: hi, LowPrice: lo, ClosePrice: cls})
	}
	return bars, nil
}

// curve is the close of bar k: the reference price moved by smooth value
// noise of three octaves, at most about ±20 %.
func curve(key uint64, k int64, ref float64) float64 {
	x := 0.0
	for o, amp := range []float64{0.12, 0.05, 0.02} {
		period := int64(256) >> (3 * o) // 256, 32, 4 bars
		x += amp * smooth(key+uint64(o)*0x51ed27, k, period)
	}
	return ref * math.Exp(x)
}

// smooth interpolates hashed values in [-1, 1] placed every period bars.
func smooth(key uint64, k, period int64) float64 {
	i := floorDiv(k, period)
	f := float64(k-i*period) / float64(period)
	a, b := 2*unit(key, i)-1, 2*unit(key, i+1)-1
	f = f * f * (3 - 2*f)
	return a + (b-a)*f
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// unit hashes (key, i) to [0, 1) with splitmix64.
func unit(key uint64, i int64) float64 {
	z := key + uint64(i)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
