package ring

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vnrpc/vnrpc/internal/testutil"
)

// newRing returns a writer over a fresh heap buffer of the given capacity.
func newRing(t testing.TB, capacity int) (*Writer, []byte) {
	t.Helper()
	buf := make([]byte, Size(capacity))
	w, err := NewWriter(buf)
	if err != nil {
		t.Fatal(err)
	}
	return w, buf
}

func reader(t testing.TB, buf []byte, o ReaderOptions) *Reader {
	t.Helper()
	r, err := NewReader(buf, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLayoutIsPinned(t *testing.T) {
	line := func(off int) int { return off / cacheLine }
	// The two counters readers load per record share one line; the rest of
	// the writer's counters, the identity and the readers' line are apart.
	if line(offTailIntent) != line(offTail+7) {
		t.Error("tailIntent and tail are not on one cache line")
	}
	hot := line(offTail)
	for _, off := range []int{offPID + 7, offLatest, offOldest, offClosed, offFutex + 3, offWaiters} {
		if line(off) == hot {
			t.Errorf("field at %d shares the per-record line", off)
		}
	}
	if line(offWaiters) == line(offFutex) || offTailIntent%cacheLine != 0 || offWaiters%cacheLine != 0 {
		t.Error("the readers' line is shared or misaligned")
	}
	if line(offArmed) != line(offWaiters) {
		t.Error("armed is not on the readers' line")
	}
	if HeaderSize != 256 || RecordHeader != 24 || RecordHeader%alignment != 0 || HeaderSize%cacheLine != 0 ||
		offArmed+4 > HeaderSize {
		t.Errorf("HeaderSize %d RecordHeader %d: the shared-memory format changed; bump layoutVersion", HeaderSize, RecordHeader)
	}
}

// Only the layout file and the futex syscalls may import unsafe.
func TestUnsafeIsConfined(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			if im.Path.Value == `"unsafe"` && f != "layout.go" && f != "futex_linux.go" {
				t.Errorf("%s imports unsafe", f)
			}
		}
	}
}

func TestWriteReadWrapAround(t *testing.T) {
	w, buf := newRing(t, 4096)
	r := reader(t, buf, ReaderOptions{})
	var dst []byte
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 { // many laps of the 4 KiB ring, padding included
		p := make([]byte, rng.IntN(w.MaxPayload()+1))
		for j := range p {
			p[j] = byte(i + j)
		}
		seq, err := w.Write(uint32(1+i%7), p)
		if err != nil || seq != uint64(i) {
			t.Fatalf("write %d: seq %d %v", i, seq, err)
		}
		rec, ok, err := r.TryNext(dst)
		if err != nil || !ok {
			t.Fatalf("read %d: %v %v", i, ok, err)
		}
		if rec.Seq != uint64(i) || rec.Type != uint32(1+i%7) || !bytes.Equal(rec.Payload, p) {
			t.Fatalf("record %d: seq %d type %d, %d bytes", i, rec.Seq, rec.Type, len(rec.Payload))
		}
		if rec.Timestamp <= 0 || rec.Timestamp > Nanotime() {
			t.Fatalf("timestamp %d", rec.Timestamp)
		}
		dst = rec.Payload
		if _, ok, _ := r.TryNext(dst); ok {
			t.Fatal("a record appeared from nowhere")
		}
	}
	if r.Laps() != 0 || r.Lost() != 0 {
		t.Errorf("a reader that kept up lost %d in %d laps", r.Lost(), r.Laps())
	}
}

func TestLapReportsExactLossAndResumesAtNewest(t *testing.T) {
	w, buf := newRing(t, 4096)
	r := reader(t, buf, ReaderOptions{})
	payload := make([]byte, 100)
	for i := range 3 {
		if _, err := w.Write(1, payload); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := r.TryNext(nil); !ok || err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	const total = 503 // records 3..502 written while the reader stalls
	for i := 3; i < total; i++ {
		binary.LittleEndian.PutUint64(payload, uint64(i))
		if _, err := w.Write(1, payload); err != nil {
			t.Fatal(err)
		}
	}
	_, ok, err := r.TryNext(nil)
	var lap *LapError
	if ok || !errors.As(err, &lap) || !errors.Is(err, ErrLapped) {
		t.Fatalf("stalled reader: ok=%v err=%v, want a LapError", ok, err)
	}
	if lap.Lost != total-1-3 { // everything but the newest record, which it gets next
		t.Fatalf("lost %d, want %d", lap.Lost, total-1-3)
	}
	rec, ok, err := r.TryNext(nil)
	if !ok || err != nil || rec.Seq != total-1 || binary.LittleEndian.Uint64(rec.Payload) != total-1 {
		t.Fatalf("after the lap: seq %d %v %v, want the newest %d", rec.Seq, ok, err, total-1)
	}
	if r.Laps() != 1 || r.Lost() != total-4 {
		t.Errorf("counters: laps %d lost %d", r.Laps(), r.Lost())
	}
}

func TestStartPoints(t *testing.T) {
	w, buf := newRing(t, 4096)
	if r := reader(t, buf, ReaderOptions{Start: StartOldest}); r.cursor != 0 {
		t.Fatal("oldest of an empty ring is not 0")
	}
	for i := range 200 {
		if _, err := w.Write(1, make([]byte, 40+i%30)); err != nil {
			t.Fatal(err)
		}
	}
	newest := reader(t, buf, ReaderOptions{Start: StartNewest})
	rec, ok, err := newest.TryNext(nil)
	if !ok || err != nil || rec.Seq != 199 {
		t.Fatalf("newest: %d %v %v", rec.Seq, ok, err)
	}
	oldest := reader(t, buf, ReaderOptions{Start: StartOldest})
	first, ok, err := oldest.TryNext(nil)
	if !ok || err != nil || first.Seq == 0 || first.Seq > 199 {
		t.Fatalf("oldest: %d %v %v", first.Seq, ok, err)
	}
	n := uint64(1)
	for {
		rec, ok, err := oldest.TryNext(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if rec.Seq != first.Seq+n {
			t.Fatalf("gap after the oldest: %d", rec.Seq)
		}
		n++
	}
	if first.Seq+n != 200 {
		t.Fatalf("oldest reader read %d records from %d", n, first.Seq)
	}
	// The oldest intact record is close to a full ring back.
	if held := (200 - first.Seq) * align(RecordHeader+55); held < 4096/2 {
		t.Errorf("oldest start keeps only ~%d bytes of a 4096-byte ring", held)
	}
}

func TestClaimCommit(t *testing.T) {
	w, buf := newRing(t, 4096)
	r := reader(t, buf, ReaderOptions{})
	b, err := w.Claim(9, 11)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, "hello world")
	if _, ok, _ := r.TryNext(nil); ok {
		t.Fatal("a claimed record is visible before Commit")
	}
	if _, err := w.Claim(9, 1); err == nil {
		t.Error("second Claim before Commit accepted")
	}
	if seq, err := w.Commit(); err != nil || seq != 0 {
		t.Fatal(seq, err)
	}
	rec, ok, _ := r.TryNext(nil)
	if !ok || string(rec.Payload) != "hello world" || rec.Type != 9 {
		t.Fatalf("%+v", rec)
	}
	if rec.Timestamp == 0 || rec.Timestamp != w.Stamp() {
		t.Errorf("record stamped %d, the writer's Stamp says %d", rec.Timestamp, w.Stamp())
	}
	if _, err := w.Commit(); err == nil {
		t.Error("Commit without Claim accepted")
	}
	if _, err := w.Write(0, nil); err == nil {
		t.Error("type 0 accepted")
	}
	if _, err := w.Write(1, make([]byte, w.MaxPayload()+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize: %v", err)
	}
	if _, err := w.Write(1, make([]byte, w.MaxPayload())); err != nil {
		t.Errorf("max payload: %v", err)
	}
}

// TestClaimIsZeroCopy: in the builds users run, Claim hands out the
// ring's own bytes, so an encoder writes straight into the ring. Under
// the race detector Claim hands out a scratch buffer instead (copy_race.go),
// so this test runs in the Makefile's run without -race.
func TestClaimIsZeroCopy(t *testing.T) {
	if !directClaim {
		t.Skip("race builds hand Claim a scratch buffer; make test runs this package without -race as well")
	}
	w, buf := newRing(t, 4096)
	b, err := w.Claim(9, 16)
	if err != nil {
		t.Fatal(err)
	}
	data := buf[HeaderSize:]
	at := uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	if at != RecordHeader || cap(b) != 16 {
		t.Fatalf("Claim's bytes are at offset %d of the ring's data (cap %d), want %d (cap 16)", at, cap(b), RecordHeader)
	}
	copy(b, "written in place")
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := string(data[RecordHeader : RecordHeader+16]); got != "written in place" {
		t.Fatalf("the ring holds %q", got)
	}
}

func TestCloseAndReaderClose(t *testing.T) {
	w, buf := newRing(t, 4096)
	r := reader(t, buf, ReaderOptions{})
	if _, err := w.Write(1, []byte("last")); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		rec, err := r.Next(nil)
		if err == nil && string(rec.Payload) != "last" {
			err = errors.New("wrong record")
		}
		if err == nil {
			_, err = r.Next(nil) // blocks until Close
		}
		got <- err
	}()
	_ = w.Close()
	_ = w.Close()
	select {
	case err := <-got:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("after the writer closed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked reader did not see Close")
	}
	if _, err := w.Write(1, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}

	w2, buf2 := newRing(t, 4096)
	r2 := reader(t, buf2, ReaderOptions{})
	go func() { _, err := r2.Next(nil); got <- err }()
	_ = r2.Close()
	select {
	case err := <-got:
		if !errors.Is(err, ErrReaderClosed) {
			t.Fatalf("after Reader.Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Reader.Close did not wake Next")
	}
	_ = w2
}

func TestLivenessEndsTheWait(t *testing.T) {
	_, buf := newRing(t, 4096)
	dead := errors.New("pid 123 is gone")
	r := reader(t, buf, ReaderOptions{Liveness: func() error { return dead }, LivenessInterval: time.Millisecond})
	for _, wait := range []Wait{WaitBlock, WaitYield, WaitSpin} {
		r.opts.Wait = wait
		_, err := r.Next(nil)
		if !errors.Is(err, ErrProducerGone) || !errors.Is(err, dead) {
			t.Errorf("%v: %v", wait, err)
		}
	}
}

func TestAttachRejectsBadBuffers(t *testing.T) {
	_, good := newRing(t, 4096)
	mod := func(f func(b []byte)) []byte { b := append([]byte(nil), good...); f(b); return b }
	cases := map[string][]byte{
		"short":     good[:100],
		"magic":     mod(func(b []byte) { b[0] ^= 1 }),
		"version":   mod(func(b []byte) { b[offVersion] = 9 }),
		"header":    mod(func(b []byte) { b[offHeaderSize] = 1 }),
		"capacity":  mod(func(b []byte) { binary.LittleEndian.PutUint64(b[offCapacity:], 8192) }),
		"maxrecord": mod(func(b []byte) { binary.LittleEndian.PutUint64(b[offMaxRecord:], 1<<40) }),
		"truncated": good[:len(good)-8],
		"unaligned": append(make([]byte, 1, len(good)+1), good...)[1:],
	}
	for name, b := range cases {
		if _, err := NewReader(b, ReaderOptions{}); !errors.Is(err, ErrIncompatible) {
			t.Errorf("%s: %v, want ErrIncompatible", name, err)
		}
	}
	bad := mod(func(b []byte) {
		binary.LittleEndian.PutUint64(b[offTail:], 10)
		binary.LittleEndian.PutUint64(b[offTailIntent:], 5)
	})
	if _, err := NewReader(bad, ReaderOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("intent behind tail: %v", err)
	}
	if _, err := NewWriter(make([]byte, Size(1000))); !errors.Is(err, ErrIncompatible) {
		t.Errorf("capacity 1000: %v", err)
	}
}

// stressRecords is how many records the multi-reader test pushes; set
// VNRPC_RING_STRESS to push more (e.g. 100000000 for the long stress run).
func stressRecords(t testing.TB, def int) int {
	if s := os.Getenv("VNRPC_RING_STRESS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("VNRPC_RING_STRESS=%q is not a positive count", s)
		}
		return n
	}
	return def
}

// makeRecord fills p with a checksummed pattern for sequence seq:
// crc32 of the rest in the first 4 bytes, then the sequence number.
func makeRecord(p []byte, seq uint64, rng *rand.Rand) []byte {
	n := 12 + rng.IntN(len(p)-12+1)
	p = p[:n]
	binary.LittleEndian.PutUint64(p[4:], seq)
	for i := 12; i < n; i++ {
		p[i] = byte(rng.Uint32())
	}
	binary.LittleEndian.PutUint32(p, crc32.ChecksumIEEE(p[4:]))
	return p
}

func checkRecord(rec Record) error {
	p := rec.Payload
	if len(p) < 12 || binary.LittleEndian.Uint32(p) != crc32.ChecksumIEEE(p[4:]) {
		return errors.New("torn or corrupt payload")
	}
	if s := binary.LittleEndian.Uint64(p[4:]); s != rec.Seq {
		return errors.New("payload of another record")
	}
	return nil
}

// A writer goroutine and readers with every wait strategy, some stalling
// at random: every delivered record is intact, and delivered + lost
// accounts for every record.
func TestConcurrentReadersRace(t *testing.T) {
	total := stressRecords(t, 200_000)
	w, buf := newRing(t, 64*1024)
	type result struct {
		got, lost, laps uint64
		err             error
	}
	waits := []Wait{WaitBlock, WaitBlock, WaitYield, WaitBlock}
	results := make([]result, len(waits))
	var wg sync.WaitGroup
	for i, wait := range waits {
		r := reader(t, buf, ReaderOptions{Start: StartOldest, Wait: wait})
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			var dst []byte
			res := &results[i]
			for {
				rec, err := r.Next(dst)
				var lap *LapError
				switch {
				case errors.As(err, &lap):
					res.lost += lap.Lost
					res.laps++
					continue
				case errors.Is(err, ErrClosed):
					return
				case err != nil:
					res.err = err
					return
				}
				if err := checkRecord(rec); err != nil {
					res.err = err
					return
				}
				dst = rec.Payload
				res.got++
				if i%2 == 1 && rng.IntN(5000) == 0 { // the odd readers stall now and then
					for range 20000 + rng.IntN(200000) {
						_ = rng.Uint32()
					}
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	p := make([]byte, 400)
	for s := range total {
		if _, err := w.Write(1, makeRecord(p, uint64(s), rng)); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	wg.Wait()
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("reader %d: %v", i, res.err)
		}
		if res.got+res.lost != uint64(total) {
			t.Errorf("reader %d: got %d + lost %d != %d written", i, res.got, res.lost, total)
		}
		t.Logf("reader %d (%v): got %d, lost %d in %d laps", i, waits[i], res.got, res.lost, res.laps)
	}
}

// TestWriterWakesOncePerArming: readers the writer has woken stay counted
// in waiters until they run; the writer wakes again only once a reader
// has armed the futex word's new value, not for every record meanwhile.
func TestWriterWakesOncePerArming(t *testing.T) {
	w, buf := newRing(t, 4096)
	r := reader(t, buf, ReaderOptions{})
	// A reader on its way to sleep, as sleep() leaves the counters.
	r.c.waiters.Add(1)
	r.arm(r.c.futex.Load())
	before := r.c.futex.Load()
	for range 10 {
		if _, err := w.Write(1, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if woke := r.c.futex.Load() - before; woke != 1 {
		t.Fatalf("10 records with one armed sleeper: %d wakes, want 1", woke)
	}
	// Armed again on the new value: the next record wakes once more.
	r.arm(r.c.futex.Load())
	if _, err := w.Write(1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if woke := r.c.futex.Load() - before; woke != 2 {
		t.Fatalf("after re-arming: %d wakes in all, want 2", woke)
	}
	// A stale arming (an older value) does not move armed back.
	r.arm(before)
	if got, want := r.c.armed.Load(), before+1; got != want {
		t.Fatalf("armed %d after a stale arm, want %d", got, want)
	}
	r.c.waiters.Add(^uint32(0))
}

// TestNoLostWakeUp: readers that sleep before every record (no spinning,
// no liveness wake-up to save them) each get every record; a
// lost wake-up would leave one asleep for an hour. Bursts exercise wakes
// while woken readers are still on their way out of the sleep.
func TestNoLostWakeUp(t *testing.T) {
	const readers = 3
	total := stressRecords(t, 3000)
	w, buf := newRing(t, 1<<20)
	var got [readers]atomic.Int64
	var wg sync.WaitGroup
	for i := range readers {
		r := reader(t, buf, ReaderOptions{Spins: 1, LivenessInterval: time.Hour})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := r.Next(nil); err != nil {
					return // ErrClosed at the end
				}
				got[i].Add(1)
			}
		}()
	}
	defer func() { _ = w.Close(); wg.Wait() }()
	await := func(what string, ok func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: gave up after 10 s (a lost wake-up?)", what)
			}
			runtime.Gosched()
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < total; {
		await("readers asleep", func() bool { return w.c.waiters.Load() == readers })
		burst := 1 + rng.IntN(4)
		for range burst {
			if _, err := w.Write(1, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		n += burst
		for i := range readers {
			await(fmt.Sprintf("reader %d at record %d", i, n), func() bool { return got[i].Load() == int64(n) })
		}
	}
}

// Every offset of the ring header and of a record is the one
// docs/protocol.md gives, and every row there is a field here.
func TestLayoutMatchesTheProtocolDoc(t *testing.T) {
	testutil.CheckLayout(t, testutil.LayoutTable(t, "../docs/protocol.md", "**Ring header**"), map[string]int{
		"magic": offMagic, "version": offVersion, "header_size": offHeaderSize, "capacity": offCapacity,
		"max_record": offMaxRecord, "producer_pid": offPID, "tail_intent": offTailIntent, "tail": offTail,
		"latest": offLatest, "oldest": offOldest, "closed": offClosed, "futex": offFutex, "waiters": offWaiters,
		"armed": offArmed, "data": HeaderSize})
	testutil.CheckLayout(t, testutil.LayoutTable(t, "../docs/protocol.md", "**Record**"), map[string]int{
		"length": recLength, "type": recType, "seq": recSeq, "timestamp": recTimestamp, "payload": RecordHeader})
}
