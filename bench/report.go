//go:build linux

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Write puts results.json, machine.json, report.md and the charts (SVG
// and PNG) into dir and returns the files written.
func Write(dir string, rep Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	put := func(name string, b []byte) error {
		p := filepath.Join(dir, name)
		files = append(files, p)
		return os.WriteFile(p, b, 0o644)
	}
	b, err := json.MarshalIndent(rep.Results, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := put("results.json", append(b, '\n')); err != nil {
		return nil, err
	}
	b, _ = json.MarshalIndent(rep.Machine, "", "  ")
	if err := put("machine.json", append(b, '\n')); err != nil {
		return nil, err
	}
	var md strings.Builder
	Markdown(&md, rep)
	if err := put("report.md", []byte(md.String())); err != nil {
		return nil, err
	}
	charts, err := Charts(dir, rep)
	files = append(files, charts...)
	return files, err
}

func us(ns int64) string {
	switch {
	case ns < 10_000:
		return fmt.Sprintf("%.2f µs", float64(ns)/1e3)
	case ns < 1_000_000:
		return fmt.Sprintf("%.1f µs", float64(ns)/1e3)
	}
	return fmt.Sprintf("%.2f ms", float64(ns)/1e6)
}

// rateCell is rate, or "-" for a result that has none (a floor).
func rateCell(r float64) string {
	if r <= 0 {
		return "-"
	}
	return rate(r)
}

func rate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2f M/s", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1f k/s", r/1e3)
	}
	return fmt.Sprintf("%.0f/s", r)
}

// ModeFloor marks a baseline that is a floor under other rows (what the
// host takes from any spinning thread), not a path to compare p50s with.
const ModeFloor = "floor"

// baselinesFor lists the baselines of r's scenario that compare with it:
// the same size when the baseline was measured at that size; a hot case
// (mode "hot@…") and its baselines only with each other; no floor.
func baselinesFor(r Result, all []Result) []Result {
	var out []Result
	for _, b := range all {
		if !b.Baseline || b.Scenario != r.Scenario || r.Baseline || b.Mode == ModeFloor {
			continue
		}
		if b.Size != 0 && r.Size != 0 && b.Size != r.Size {
			continue
		}
		if (strings.HasPrefix(r.Mode, "hot@") || strings.HasPrefix(b.Mode, "hot@")) && r.Mode != b.Mode {
			continue
		}
		out = append(out, b)
	}
	return out
}

// Markdown writes the report: the machine, then a table per scenario with
// each subject's p50 ratio to each baseline.
func Markdown(w io.Writer, rep Report) {
	fmt.Fprintf(w, "# vnrpc benchmark report\n\n%s  \nstarted %s%s\n\n", rep.Machine,
		rep.Machine.Start.Format("2006-01-02 15:04 UTC"), map[bool]string{true: " (quick)", false: ""}[rep.Machine.Quick])
	fmt.Fprintf(w, "Latencies from HDR histograms (warm-up discarded); \"paced\" and \"open\" modes send at a fixed rate, "+
		"and open-loop latencies count from the intended send time.\n")
	for _, sc := range scenarioNames(rep.Results) {
		fmt.Fprintf(w, "\n## %s\n\n", sc)
		for _, s := range Scenarios() {
			if s.Name == sc {
				fmt.Fprintf(w, "%s.\n\n", upperFirst(s.Desc))
			}
		}
		fmt.Fprintln(w, "| subject | size | peers | mode | p50 | p90 | p99 | p99.9 | p99.99 | max | rate | vs baselines (p50) |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range rep.Results {
			if r.Scenario != sc {
				continue
			}
			name := r.Subject
			if r.Baseline {
				name = "**baseline** " + name
			}
			var ratios []string
			for _, b := range baselinesFor(r, rep.Results) {
				if b.P50 > 0 {
					ratios = append(ratios, fmt.Sprintf("%.2f× %s", float64(r.P50)/float64(b.P50), b.Subject))
				}
			}
			extra := ""
			if r.Lost > 0 {
				extra = fmt.Sprintf(" (%d lost)", r.Lost)
			}
			fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s%s | %s |\n", name, r.Size, r.Peers, r.Mode,
				us(r.P50), us(r.P90), us(r.P99), us(r.P999), us(r.P9999), us(r.Max), rateCell(r.Rate), extra, strings.Join(ratios, ", "))
		}
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func scenarioNames(rs []Result) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.Scenario] {
			seen[r.Scenario] = true
			out = append(out, r.Scenario)
		}
	}
	return out
}

// Summary writes a one-line-per-result table for the terminal.
func Summary(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tsubject\tsize\tpeers\tmode\tp50\tp99\tp99.9\tmax\trate")
	for _, r := range rs {
		s := r.Subject
		if r.Baseline {
			s += " (baseline)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, s, r.Size, r.Peers, r.Mode,
			us(r.P50), us(r.P99), us(r.P999), us(r.Max), rate(r.Rate))
	}
	_ = tw.Flush()
}

// nines maps a percentile to the chart's x axis: 0 -> 0, 90 -> 1, 99 -> 2 …;
// the maximum is drawn at 6.
func nines(q float64) float64 {
	if q >= 100 {
		return 6
	}
	return math.Min(-math.Log10(1-q/100), 5.5)
}

type ninesTicks struct{}

func (ninesTicks) Ticks(min, max float64) []plot.Tick {
	labels := []struct {
		x float64
		l string
	}{{0, "0%"}, {nines(50), "50%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%"}, {6, "max"}}
	var out []plot.Tick
	for _, t := range labels {
		if t.x >= min && t.x <= max {
			out = append(out, plot.Tick{Value: t.x, Label: t.l})
		}
	}
	return out
}

type usTicks struct{}

func (usTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for v := math.Pow(10, math.Floor(math.Log10(math.Max(min, 1)))); v <= max*10; v *= 10 {
		if v >= min/10 {
			out = append(out, plot.Tick{Value: v, Label: us(int64(v))})
		}
	}
	return out
}

// Charts draws a latency percentile chart per scenario (log scale; each
// subject and baseline a line) and a throughput bar chart, as SVG and PNG.
func Charts(dir string, rep Report) ([]string, error) {
	var files []string
	save := func(p *plot.Plot, name string, w vg.Length) error {
		for _, ext := range []string{".svg", ".png"} {
			f := filepath.Join(dir, name+ext)
			if err := p.Save(w, 5*vg.Inch, f); err != nil {
				return err
			}
			files = append(files, f)
		}
		return nil
	}
	for _, sc := range scenarioNames(rep.Results) {
		p := plot.New()
		p.Title.Text = "vnrpc " + sc + ": latency by percentile"
		p.X.Label.Text = "percentile"
		p.Y.Label.Text = "latency"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = usTicks{}
		p.X.Tick.Marker = ninesTicks{}
		p.X.Min, p.X.Max = 0, 6
		p.Legend.Top = true
		p.Legend.Left = true
		i := 0
		for _, r := range rep.Results {
			if r.Scenario != sc || len(r.Percentiles) == 0 {
				continue
			}
			xy := make(plotter.XYs, 0, len(r.Percentiles))
			for _, pt := range r.Percentiles {
				xy = append(xy, plotter.XY{X: nines(pt.Q), Y: math.Max(float64(pt.Ns), 1)})
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return files, err
			}
			l.Color = plotutil.Color(i)
			if r.Baseline {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			l.Width = vg.Points(1.5)
			label := fmt.Sprintf("%s %dB×%d %s", r.Subject, r.Size, r.Peers, r.Mode)
			if r.Baseline {
				label += " (baseline)"
			}
			p.Add(l)
			p.Legend.Add(label, l)
			i++
		}
		if i == 0 {
			continue
		}
		if err := save(p, "latency-"+sc, 9*vg.Inch); err != nil {
			return files, err
		}
	}
	// Throughput: every result's rate, in one bar chart.
	var vals plotter.Values
	var names []string
	for _, r := range rep.Results {
		if r.Rate <= 0 || (r.Scenario != "calls" && r.Scenario != "lossless") || strings.HasPrefix(r.Mode, "open") {
			continue
		}
		vals = append(vals, r.Rate)
		names = append(names, fmt.Sprintf("%s/%dB×%d", r.Subject, r.Size, r.Peers))
	}
	if len(vals) > 0 {
		p := plot.New()
		p.Title.Text = "vnrpc throughput (calls/s, ticks/s)"
		bars, err := plotter.NewBarChart(vals, vg.Points(14))
		if err != nil {
			return files, err
		}
		bars.Color = plotutil.Color(0)
		bars.Horizontal = true
		p.Add(bars)
		p.NominalY(names...)
		p.X.Label.Text = "per second"
		if err := save(p, "throughput", 9*vg.Inch); err != nil {
			return files, err
		}
	}
	return files, nil
}

// Load reads a results.json.
func Load(path string) ([]Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rs []Result
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// Compare prints the series whose p50 or p99 changed by more than noise
// (a fraction: 0.25 is ±25 %) between two runs, and those in only one.
// It returns how many changed.
func Compare(w io.Writer, old, cur []Result, noise float64) int {
	prev := map[string]Result{}
	for _, r := range old {
		prev[r.Key()] = r
	}
	var keys []string
	curBy := map[string]Result{}
	for _, r := range cur {
		curBy[r.Key()] = r
		keys = append(keys, r.Key())
	}
	sort.Strings(keys)
	changed := 0
	for _, k := range keys {
		n := curBy[k]
		o, ok := prev[k]
		if !ok {
			fmt.Fprintf(w, "new      %s: p50 %s p99 %s\n", k, us(n.P50), us(n.P99))
			continue
		}
		d50, d99 := ratio(n.P50, o.P50), ratio(n.P99, o.P99)
		if math.Abs(d50-1) > noise || math.Abs(d99-1) > 2*noise {
			changed++
			d := d99 // the metric that moved past the noise decides
			if math.Abs(d50-1) > noise {
				d = d50
			}
			verdict := "slower"
			if d < 1 {
				verdict = "faster"
			}
			fmt.Fprintf(w, "%-8s %s: p50 %s -> %s (%.2f×), p99 %s -> %s (%.2f×)\n", verdict, k, us(o.P50), us(n.P50), d50,
				us(o.P99), us(n.P99), d99)
		}
	}
	for _, r := range old {
		if _, ok := curBy[r.Key()]; !ok {
			fmt.Fprintf(w, "gone     %s\n", r.Key())
		}
	}
	if changed == 0 {
		fmt.Fprintf(w, "no change beyond the noise (p50 ±%.0f %%, p99 ±%.0f %%)\n", 100*noise, 200*noise)
	}
	return changed
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
