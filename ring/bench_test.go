package ring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/shm"
)

// One-way latency: the writer stamps each record with CLOCK_MONOTONIC at
// commit; a reader in another process subtracts it from its own reading
// once it holds a validated copy. Nothing is pinned (on this shared 2-vCPU
// machine pinning a process's threads made its own runtime threads preempt
// the spinner). Records are paced, so the figures are latencies rather
// than queueing. For spinning readers the writer spins 10µs between
// records. For blocking readers and the baselines it sleeps between them
// (time.Sleep rounds to about 1ms here, so about 1 000 records/s): the
// readers are asleep when a record comes, each delivery includes a
// wake-up, and no spinning writer holds the CPU a woken reader needs.
//
//	go test ./ring -run '^$' -bench 'OneWay/wait=spin|Throughput' -benchtime 200000x
//	go test ./ring -run '^$' -bench 'OneWay/wait=block|OneWayBaseline' -benchtime 5000x
func paceFor(w Wait) time.Duration {
	if w == WaitSpin {
		return 10 * time.Microsecond
	}
	return 200 * time.Microsecond // asks for 200µs; sleeps about 1ms
}

// pacer spins to each send time when the gap is short, and sleeps when it
// is long enough for time.Sleep.
type pacer struct{ next, every int64 }

func newPacer(d time.Duration) *pacer { return &pacer{next: Nanotime(), every: int64(d)} }

func (p *pacer) wait() {
	if p.every >= int64(100*time.Microsecond) {
		time.Sleep(time.Duration(p.every))
		return
	}
	p.next += p.every
	for Nanotime() < p.next {
	}
}

func reportSamples(b *testing.B, samples []int64) {
	if len(samples) == 0 {
		b.Fatal("no samples")
	}
	slices.Sort(samples)
	q := func(p float64) float64 { return float64(samples[min(len(samples)-1, int(float64(len(samples))*p))]) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
	b.ReportMetric(q(0.999), "p999-ns")
	b.ReportMetric(float64(samples[len(samples)-1]), "max-ns")
}

func readSamples(b *testing.B, path string) []int64 {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]int64, len(raw)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(raw[i*8:]))
	}
	return out
}

func writeSamples(path string, s []int64) error {
	raw := make([]byte, 8*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint64(raw[i*8:], uint64(v))
	}
	return os.WriteFile(path, raw, 0o600)
}

// helperBenchReader reads VNRPC_N records, recording each one's latency,
// and writes them to VNRPC_OUT.
func helperBenchReader() int {
	seg, err := shm.Open(env("SEG"), shm.Options{Dir: env("DIR")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, err := NewReader(seg.Bytes(), ReaderOptions{Wait: Wait(envInt("WAIT"))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n := envInt("N")
	lat := make([]int64, 0, n)
	dst := make([]byte, 0, 4096)
	fmt.Println("ready")
	for len(lat) < n {
		rec, err := r.Next(dst)
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench reader:", err)
			return 1
		}
		lat = append(lat, Nanotime()-rec.Timestamp)
	}
	if err := writeSamples(env("OUT"), lat); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

func BenchmarkOneWay(b *testing.B) {
	type cfg struct {
		wait    Wait
		size    int
		readers int
	}
	var cases []cfg
	for _, size := range []int{64, 256, 1024} {
		cases = append(cases, cfg{WaitSpin, size, 1}) // one spinner: this machine has 2 cores
		for _, n := range []int{1, 4} {
			cases = append(cases, cfg{WaitBlock, size, n})
		}
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("wait=%v/size=%d/readers=%d", c.wait, c.size, c.readers), func(b *testing.B) {
			oneWay(b, c.wait, c.size, c.readers)
		})
	}
}

// shmRing creates a segment holding a ring of the given capacity and
// returns its directory, name and writer; the segment closes at cleanup.
func shmRing(b *testing.B, capacity int) (dir, name string, w *Writer) {
	dir, name = shmDir(b), shm.Name("ringbench", shm.NewEpoch())
	seg, err := shm.Create(name, Size(capacity), shm.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = seg.Close() })
	if w, err = NewWriter(seg.Bytes()); err != nil {
		b.Fatal(err)
	}
	return dir, name, w
}

// startReaders starts n reader processes and waits until each is ready.
func startReaders(b *testing.B, n int, name string, vars map[string]string) []*child {
	var kids []*child
	for range n {
		kids = append(kids, startHelper(b, name, vars))
	}
	for _, k := range kids {
		k.expect(b, "ready", 30*time.Second)
	}
	return kids
}

// writePaced times b.N paced writes of payload, reports records/s and
// closes the writer.
func writePaced(b *testing.B, w *Writer, payload []byte, every time.Duration) {
	p := newPacer(every)
	b.ResetTimer()
	for range b.N {
		p.wait()
		if _, err := w.Write(1, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	_ = w.Close()
}

func oneWay(b *testing.B, wait Wait, size, readers int) {
	dir, name, w := shmRing(b, 4<<20)
	payload := make([]byte, size-RecordHeader) // size is the whole record
	var kids []*child
	for i := range readers {
		kids = append(kids, startHelper(b, "bench-reader", map[string]string{"SEG": name, "DIR": dir,
			"WAIT": strconv.Itoa(int(wait)), "N": strconv.Itoa(b.N), "OUT": filepath.Join(dir, fmt.Sprint("lat", i))}))
	}
	for _, k := range kids {
		k.expect(b, "ready", 30*time.Second)
	}
	writePaced(b, w, payload, paceFor(wait))
	var all []int64
	for i, k := range kids {
		k.expect(b, "done", 60*time.Second)
		all = append(all, readSamples(b, filepath.Join(dir, fmt.Sprint("lat", i)))...)
	}
	reportSamples(b, all)
}

// helperBenchUDS reads 64-byte messages from fd 3, each starting with its
// send time, VNRPC_N of them, and writes the latencies to VNRPC_OUT.
func helperBenchUDS() int {
	n := envInt("N")
	lat := make([]int64, 0, n)
	buf := make([]byte, 64)
	fmt.Println("ready")
	for len(lat) < n {
		if _, err := io.ReadFull(fdReader(3), buf); err != nil {
			fmt.Fprintln(os.Stderr, "uds reader:", err)
			return 1
		}
		lat = append(lat, Nanotime()-int64(binary.LittleEndian.Uint64(buf)))
	}
	if err := writeSamples(env("OUT"), lat); err != nil {
		return 1
	}
	fmt.Println("done")
	return 0
}

// fdReader reads a file descriptor with plain blocking read(2).
type fdReader int

func (f fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(f), p)
		if err == syscall.EINTR {
			continue
		}
		if n == 0 && err == nil {
			return 0, io.EOF
		}
		return n, err
	}
}

func BenchmarkOneWayBaseline(b *testing.B) {
	// One process writes 64-byte messages to a unix socket, another reads
	// them with blocking read(2): the kernel path a ring replaces.
	b.Run("unixsocket/size=64", func(b *testing.B) {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			b.Fatal(err)
		}
		mine, theirs := fds[0], os.NewFile(uintptr(fds[1]), "uds")
		defer syscall.Close(mine)
		dir := b.TempDir()
		out := filepath.Join(dir, "lat")
		k := startHelperFiles(b, "bench-uds", map[string]string{"N": strconv.Itoa(b.N), "OUT": out}, []*os.File{theirs})
		_ = theirs.Close()
		k.expect(b, "ready", 30*time.Second)
		msg := make([]byte, 64)
		p := newPacer(paceFor(WaitBlock))
		b.ResetTimer()
		for range b.N {
			p.wait()
			binary.LittleEndian.PutUint64(msg, uint64(Nanotime()))
			if _, err := syscall.Write(mine, msg); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		k.expect(b, "done", 60*time.Second)
		reportSamples(b, readSamples(b, out))
	})
	// Two goroutines and a Go channel, in one process.
	b.Run("chan/size=64", func(b *testing.B) {
		ch := make(chan [64]byte, 1)
		lat := make([]int64, 0, b.N)
		done := make(chan struct{})
		go func() {
			for m := range ch {
				lat = append(lat, Nanotime()-int64(binary.LittleEndian.Uint64(m[:])))
			}
			close(done)
		}()
		p := newPacer(paceFor(WaitBlock))
		b.ResetTimer()
		for range b.N {
			p.wait()
			var m [64]byte
			binary.LittleEndian.PutUint64(m[:], uint64(Nanotime()))
			ch <- m
		}
		b.StopTimer()
		close(ch)
		<-done
		reportSamples(b, lat)
	})
}

// BenchmarkThroughput: 64-byte records (header included) written as fast
// as possible to one spinning reader in another process; records/s counts
// until the reader has seen the last one, and lost says whether it kept up.
func BenchmarkThroughput(b *testing.B) {
	b.Run("size=64/readers=1", func(b *testing.B) {
		dir, name, w := shmRing(b, 8<<20)
		k := startReaders(b, 1, "reader", map[string]string{"SEG": name, "DIR": dir, "WAIT": strconv.Itoa(int(WaitSpin))})[0]
		payload := make([]byte, 64-RecordHeader)
		b.ResetTimer()
		for range b.N {
			if _, err := w.Write(1, payload); err != nil {
				b.Fatal(err)
			}
		}
		_ = w.Close()
		res := k.expect(b, "result ", 60*time.Second)
		b.StopTimer()
		got, lost, _ := parseResult(b, res)
		if got+lost != uint64(b.N) {
			b.Fatalf("reader accounted for %d of %d", got+lost, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(lost), "lost")
	})
}

// BenchmarkWrite: the writer alone (no reader), for the cost of a record
// without cache-line traffic to readers.
func BenchmarkWrite(b *testing.B) {
	w, _ := newRing(b, 8<<20)
	payload := make([]byte, 64-RecordHeader)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := w.Write(1, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkKeepUp: 4 blocking readers in other processes and a writer
// pacing 64-byte records at 1 000 000 a second into a 64 MiB ring; lost
// and laps (summed over the readers) say whether they kept up.
//
//	go test ./ring -run '^$' -bench KeepUp -benchtime 2000000x
func BenchmarkKeepUp(b *testing.B) {
	const readers = 4
	b.Run(fmt.Sprintf("rate=1000000/readers=%d", readers), func(b *testing.B) {
		dir, name, w := shmRing(b, 64<<20)
		kids := startReaders(b, readers, "reader", map[string]string{"SEG": name, "DIR": dir,
			"WAIT": strconv.Itoa(int(WaitBlock))})
		payload := make([]byte, 64-RecordHeader)
		writePaced(b, w, payload, time.Microsecond)
		var lost, laps uint64
		for _, k := range kids {
			g, l, n := parseResult(b, k.expect(b, "result ", 60*time.Second))
			if g+l != uint64(b.N) {
				b.Fatalf("a reader accounted for %d of %d", g+l, b.N)
			}
			lost += l
			laps += n
		}
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(laps), "laps")
	})
}
