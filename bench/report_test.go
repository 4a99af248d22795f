package bench

import (
	"strings"
	"testing"
)

func hist(vals ...int64) *Hist {
	h := NewHist()
	for _, v := range vals {
		h.Record(v)
	}
	return h
}

// (HDR values are exact to 3 significant digits.) The report states each subject's p50 ratio to the baselines of its
// scenario and size; compare flags only changes beyond the noise.
func TestReportAndCompare(t *testing.T) {
	sub := Result{Scenario: "calls", Subject: "rpc-uds", Size: 64, Peers: 1, Mode: "closed", Rate: 1000}
	fill(hist(20_000, 20_000, 30_000), &sub)
	base := Result{Scenario: "calls", Subject: "unix-echo", Baseline: true, Size: 64, Peers: 1, Mode: "closed", Rate: 1000}
	fill(hist(10_000, 10_000, 15_000), &base)
	other := Result{Scenario: "calls", Subject: "unix-echo", Baseline: true, Size: 1024, Peers: 1, Mode: "closed"}
	fill(hist(50_000), &other)
	var md strings.Builder
	Markdown(&md, Report{Results: []Result{sub, base, other}})
	if !strings.Contains(md.String(), "2.00× unix-echo") {
		t.Errorf("no 2.00× ratio to the 64 B baseline:\n%s", md.String())
	}
	if strings.Contains(md.String(), "0.40×") {
		t.Errorf("a ratio to a baseline of another size:\n%s", md.String())
	}
	if sub.P50 < 20_000 || sub.P50 > 20_030 || sub.Max < 30_000 || sub.Count != 3 || len(sub.Percentiles) == 0 {
		t.Errorf("percentiles: %+v", sub)
	}

	var out strings.Builder
	same := Compare(&out, []Result{sub}, []Result{sub}, 0.25)
	if same != 0 || !strings.Contains(out.String(), "no change") {
		t.Errorf("a run compared with itself: %d changes\n%s", same, out.String())
	}
	slow := sub
	slow.P50, slow.P99 = 2*sub.P50, 2*sub.P99
	out.Reset()
	if n := Compare(&out, []Result{sub}, []Result{slow}, 0.25); n != 1 || !strings.Contains(out.String(), "slower") {
		t.Errorf("a doubled p50: %d changes\n%s", n, out.String())
	}
	jitter := sub
	jitter.P50 = sub.P50 * 11 / 10
	out.Reset()
	if n := Compare(&out, []Result{sub}, []Result{jitter}, 0.25); n != 0 {
		t.Errorf("a 10 %% change counted beyond 25 %% noise:\n%s", out.String())
	}
}

// A hot case compares with the baselines of its own mode only, and a
// floor with nothing.
func TestReportHotAndFloor(t *testing.T) {
	hot := Result{Scenario: "ticks", Subject: "tick-local-spin-hot", Peers: 1, Mode: "hot@20000/s"}
	fill(hist(800, 800, 900), &hot)
	cold := Result{Scenario: "ticks", Subject: "tick-local-spin", Peers: 1, Mode: "paced@1000/s"}
	fill(hist(3000, 3000), &cold)
	ring := Result{Scenario: "ticks", Subject: "ring-spin-hot", Baseline: true, Peers: 1, Mode: "hot@20000/s"}
	fill(hist(400, 400), &ring)
	zmq := Result{Scenario: "ticks", Subject: "zmq-pubsub-ipc", Baseline: true, Peers: 1, Mode: "paced@1000/s"}
	fill(hist(60_000, 60_000), &zmq)
	floor := Result{Scenario: "ticks", Subject: "host-spin-floor", Baseline: true, Peers: 1, Mode: ModeFloor}
	fill(hist(1, 1, 9000), &floor)
	var md strings.Builder
	Markdown(&md, Report{Results: []Result{hot, cold, ring, zmq, floor}})
	for _, row := range strings.Split(md.String(), "\n") {
		switch {
		case strings.HasPrefix(row, "| tick-local-spin-hot "):
			if !strings.HasSuffix(row, "| 2.00× ring-spin-hot |") {
				t.Errorf("hot row: %s", row)
			}
		case strings.HasPrefix(row, "| tick-local-spin "):
			if !strings.HasSuffix(row, "| 0.05× zmq-pubsub-ipc |") {
				t.Errorf("paced row: %s", row)
			}
		}
	}
	if strings.Contains(md.String(), "× host-spin-floor") {
		t.Errorf("a ratio to the floor:\n%s", md.String())
	}
}

// A histogram survives the trip through a file, as helpers send them.
func TestHistSaveLoad(t *testing.T) {
	h := hist(1_000, 2_000, 3_000_000)
	path := t.TempDir() + "/h.json"
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadHist(path)
	if err != nil {
		t.Fatal(err)
	}
	var a, b Result
	fill(h, &a)
	fill(back, &b)
	if a.Count != b.Count || a.P50 != b.P50 || a.Max != b.Max {
		t.Errorf("after save/load %+v, before %+v", b, a)
	}
}
