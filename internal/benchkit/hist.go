//go:build linux

package benchkit

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
		return nil, fmt.Errorf("benchkit: histogram %s: %w", path, err)
	}
	return &Hist{hdrhistogram.Import(&s)}, nil
}

// Quantile is the latency at quantile q (0..100), in ns; 100 is the max.
func (h *Hist) Quantile(q float64) int64 {
	if q >= 100 {
		return h.h.Max()
	}
	return h.h.ValueAtQuantile(q)
}

// Max is the largest latency recorded, in ns.
func (h *Hist) Max() int64 { return h.h.Max() }

// RecordN adds the latency ns n times.
func (h *Hist) RecordN(ns, n int64) { _ = h.h.RecordValues(min(max(ns, 1), 100e9), n) }
