package bench

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Hist records latencies in nanoseconds, 1 ns to 100 s, 3 significant digits.
type Hist struct{ h *hdrhistogram.Histogram }

// NewHist returns an empty histogram.
func NewHist() *Hist { return &Hist{hdrhistogram.New(1, 100e9, 3)} }

// Record adds one latency; values outside the range are clamped.
func (h *Hist) Record(ns int64) { _ = h.h.RecordValue(min(max(ns, 1), 100e9)) }

// Merge adds o's samples.
func (h *Hist) Merge(o *Hist) { h.h.Merge(o.h) }

// Count is the number of samples.
func (h *Hist) Count() int64 { return h.h.TotalCount() }

// Save writes the histogram to path (a JSON snapshot), for helper processes.
func (h *Hist) Save(path string) error {
	b, err := json.Marshal(h.h.Export())
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// LoadHist reads a histogram written by Save.
func LoadHist(path string) (*Hist, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s hdrhistogram.Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("bench: histogram %s: %w", path, err)
	}
	return &Hist{hdrhistogram.Import(&s)}, nil
}

// curve is the quantiles drawn in the percentile charts.
var curve = []float64{0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// Fill sets r's count, percentiles and curve from h.
func (h *Hist) Fill(r *Result) {
	r.Count = h.h.TotalCount()
	r.P50 = h.h.ValueAtQuantile(50)
	r.P90 = h.h.ValueAtQuantile(90)
	r.P99 = h.h.ValueAtQuantile(99)
	r.P999 = h.h.ValueAtQuantile(99.9)
	r.P9999 = h.h.ValueAtQuantile(99.99)
	r.Max = h.h.Max()
	r.Percentiles = r.Percentiles[:0]
	for _, q := range curve {
		if q >= 100 {
			r.Percentiles = append(r.Percentiles, Point{Q: q, Ns: h.h.Max()})
			continue
		}
		r.Percentiles = append(r.Percentiles, Point{Q: q, Ns: h.h.ValueAtQuantile(q)})
	}
}
