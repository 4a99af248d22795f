package engine

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// reportLatency reports p50/p99/p999/max of lat through b.ReportMetric.
// Call it after the timed loop: ResetTimer deletes reported metrics.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))]) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
	b.ReportMetric(q(0.999), "p999-ns")
	b.ReportMetric(float64(lat[len(lat)-1]), "max-ns")
}

// BenchmarkThroughput: events per second from Put to handler, one producer,
// beside a buffered Go channel with one receiving goroutine.
func BenchmarkThroughput(b *testing.B) {
	b.Run("engine", func(b *testing.B) {
		e := NewEventEngine(WithTimerInterval(0))
		var n atomic.Int64
		done := make(chan struct{})
		total := int64(b.N)
		tick := &Tick{}
		e.Register(EventTick, func(Event) {
			if n.Add(1) == total {
				close(done)
			}
		})
		e.Start()
		defer e.Stop()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			e.Put(Event{Type: EventTick, Data: tick})
		}
		<-done
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("chan", func(b *testing.B) {
		ch := make(chan Event, 4096)
		done := make(chan struct{})
		tick := &Tick{}
		go func() {
			for range b.N {
				<-ch
			}
			close(done)
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			ch <- Event{Type: EventTick, Data: tick}
		}
		<-done
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkHop: latency of one event from Put to the start of its handler,
// one event at a time, so each hop includes waking the dispatcher. The
// channel baseline does the same with a goroutine receiving.
// (BenchmarkThroughput covers streams.)
func BenchmarkHop(b *testing.B) {
	for _, mode := range []string{"idle"} {
		b.Run("engine/mode="+mode, func(b *testing.B) {
			e := NewEventEngine(WithTimerInterval(0))
			lat := make([]time.Duration, 0, b.N)
			ack := make(chan struct{}, 1)
			var stamps []time.Time
			e.Register("hop", func(ev Event) {
				i := ev.Data.(int)
				lat = append(lat, time.Since(stamps[i]))
				if mode == "idle" || i == b.N-1 {
					ack <- struct{}{}
				}
			})
			e.Start()
			defer e.Stop()
			stamps = make([]time.Time, b.N)
			b.ResetTimer()
			for i := range b.N {
				stamps[i] = time.Now()
				e.Put(Event{Type: "hop", Data: i})
				if mode == "idle" {
					<-ack
				}
			}
			if mode == "stream" {
				<-ack
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
		b.Run("chan/mode="+mode, func(b *testing.B) {
			ch := make(chan int, 4096)
			lat := make([]time.Duration, 0, b.N)
			ack := make(chan struct{}, 1)
			stamps := make([]time.Time, b.N)
			go func() {
				for i := range ch {
					lat = append(lat, time.Since(stamps[i]))
					if mode == "idle" || i == b.N-1 {
						ack <- struct{}{}
					}
				}
			}()
			defer close(ch)
			b.ResetTimer()
			for i := range b.N {
				stamps[i] = time.Now()
				ch <- i
				if mode == "idle" {
					<-ack
				}
			}
			if mode == "stream" {
				<-ack
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}
