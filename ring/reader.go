//go:build linux

package ring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// Start says where a new reader begins.
type Start uint8

const (
	// StartNewest delivers the newest committed record first (or the
	// first record ever, on an empty ring).
	StartNewest Start = iota
	// StartOldest delivers the oldest record still intact first.
	StartOldest
)

// Wait is how Next waits for the next record.
type Wait uint8

const (
	// WaitBlock yields once (goroutines the reader's caller has readied run
	// on its thread first), spins briefly, then sleeps on a futex word in
	// the ring; the writer makes the wake syscall only when a reader
	// sleeps, once per sleep. The default.
	WaitBlock Wait = iota
	// WaitSpin busy-polls: the lowest latency, and a whole core. In a
	// process with GOMAXPROCS=1 it yields (runtime.Gosched) when it runs
	// dry and then every spinYield polls, so the process's other
	// goroutines (the handlers of what it read, timers) still run on its
	// one thread; with more threads it never yields, since a yielded
	// goroutine may be taken by a thread the OS has not scheduled.
	WaitSpin
	// WaitYield spins briefly, then polls with runtime.Gosched between polls.
	WaitYield
)

func (w Wait) String() string {
	switch w {
	case WaitBlock:
		return "block"
	case WaitSpin:
		return "spin"
	case WaitYield:
		return "yield"
	}
	return fmt.Sprintf("Wait(%d)", uint8(w))
}

// ReaderOptions configure a reader. The zero value starts at the newest
// record and blocks.
type ReaderOptions struct {
	Start Start
	Wait  Wait
	// Spins is how many polls WaitBlock and WaitYield make before they
	// sleep or yield (default 2000).
	Spins int
	// Liveness, if set, is called while the reader waits, at most every
	// LivenessInterval (default 100ms); an error from it ends the wait and
	// is returned (wrapped in ErrProducerGone if it does not wrap it
	// already). Use it to notice a writer process that died without
	// closing the ring.
	Liveness         func() error
	LivenessInterval time.Duration
}

// spinYield is how many polls a spinning reader makes between yields:
// tens of microseconds, so a yield (a fraction of a microsecond when
// nothing else is runnable) rarely meets a record.
const spinYield = 1 << 14

// Record is one record as delivered. Payload aliases the buffer passed to
// TryNext or Next.
type Record struct {
	Type      uint32
	Seq       uint64
	Timestamp int64 // CLOCK_MONOTONIC ns at commit (see Nanotime)
	Payload   []byte
}

// Reader is one consumer of a ring, with its own cursor. It writes nothing
// the writer reads, except the sleeper count while it blocks. A Reader is
// not safe for concurrent use (Close excepted); give each goroutine its own.
type Reader struct {
	geometry
	opts   ReaderOptions
	cursor uint64 // position of the next record to read
	expect uint64 // its sequence number
	tail   uint64 // the writer's tail as last loaded; reloaded only when reached
	laps   uint64
	lost   uint64
	solo   bool // a spinning reader in a process with GOMAXPROCS=1: it yields now and then
	closed atomic.Bool
}

// NewReader attaches to a ring written by a Writer over the same bytes
// (a heap buffer or a shared mapping). It validates the header and the
// counters and never reads outside buf; a bad header is an error wrapping
// ErrIncompatible or ErrCorrupt.
func NewReader(buf []byte, o ReaderOptions) (*Reader, error) {
	g, err := attach(buf)
	if err != nil {
		return nil, err
	}
	if o.Spins <= 0 {
		o.Spins = 2000
	}
	if o.LivenessInterval <= 0 {
		o.LivenessInterval = 100 * time.Millisecond
	}
	r := &Reader{geometry: g, opts: o, solo: soloSpinner(o.Wait)}
	for range 1000 { // retried only while the writer laps the start point
		if err := r.start(); err != errRetry {
			return r, err
		}
	}
	return nil, fmt.Errorf("%w: could not find a stable start record", ErrCorrupt)
}

// soloSpinner reports whether a reader waiting with w spins on the
// process's only thread, and so must yield now and then.
func soloSpinner(w Wait) bool { return w == WaitSpin && runtime.GOMAXPROCS(0) == 1 }

var errRetry = fmt.Errorf("retry")

// start places the cursor and learns the sequence number expected there.
func (r *Reader) start() error {
	// latest (or oldest) first, then tail: the writer stores tail before
	// latest, so the record found is below the tail loaded after it.
	pos := r.c.latest.Load()
	if r.opts.Start == StartOldest {
		pos = r.c.oldest.Load()
	}
	tail := r.c.tail.Load()
	intent := r.c.tailIntent.Load()
	if intent < tail {
		return fmt.Errorf("%w: tailIntent %d behind tail %d", ErrCorrupt, intent, tail)
	}
	if tail == 0 {
		r.cursor, r.expect = 0, 0
		return nil
	}
	if pos >= tail {
		return fmt.Errorf("%w: start position %d outside the written range ending at %d", ErrCorrupt, pos, tail)
	}
	seq, err := r.seqAt(pos)
	if err != nil {
		return err
	}
	r.cursor, r.expect = pos, seq
	return nil
}

// seqAt reads the sequence number of the record at pos, skipping a padding
// record there, and validates the read.
func (r *Reader) seqAt(pos uint64) (uint64, error) {
	if pos%alignment != 0 {
		return 0, fmt.Errorf("%w: record position %d is not 8-byte aligned", ErrCorrupt, pos)
	}
	off := pos & r.mask
	w0 := u64(r.data, off).Load()
	if uint32(w0>>32) == typePadding {
		if l := uint64(uint32(w0)); l != r.capacity-off {
			if !r.intact(pos) {
				return 0, errRetry
			}
			return 0, fmt.Errorf("%w: padding of %d bytes at offset %d", ErrCorrupt, l, off)
		}
		pos += r.capacity - off
		off = 0
	}
	if off+RecordHeader > r.capacity { // a real record always fits before the end
		if !r.intact(pos) {
			return 0, errRetry
		}
		return 0, fmt.Errorf("%w: record at offset %d runs past the end", ErrCorrupt, off)
	}
	seq := u64(r.data, off+recSeq).Load()
	if !r.intact(pos) {
		return 0, errRetry
	}
	return seq, nil
}

// intact reports whether the bytes from pos on were not overwritten yet.
func (r *Reader) intact(pos uint64) bool { return pos+r.capacity >= r.c.tailIntent.Load() }

// Laps and Lost count the laps this reader suffered and the records they cost.
func (r *Reader) Laps() uint64 { return r.laps }
func (r *Reader) Lost() uint64 { return r.lost }

// Capacity is the ring's data capacity in bytes.
func (r *Reader) Capacity() int { return int(r.capacity) }

// TryNext returns the next record if one is there (ok true), copying its
// payload into dst (grown as needed), without waiting. After a lap it
// returns a *LapError (errors.Is ErrLapped) with the exact number of
// records lost, and the next call returns the newest record. A record that
// fails its checks yields ErrCorrupt; a torn copy is never returned.
func (r *Reader) TryNext(dst []byte) (rec Record, ok bool, err error) {
	for {
		if r.cursor >= r.tail { // caught up with what we knew: look again
			r.tail = r.c.tail.Load()
			if r.cursor == r.tail {
				return Record{}, false, nil
			}
			if r.cursor > r.tail {
				return Record{}, false, fmt.Errorf("%w: tail %d moved behind the reader at %d", ErrCorrupt, r.tail, r.cursor)
			}
		}
		tail := r.tail
		off := r.cursor & r.mask
		w0 := u64(r.data, off).Load()
		length, typ := uint64(uint32(w0)), uint32(w0>>32)
		if typ == typePadding {
			if length != r.capacity-off {
				return Record{}, false, r.bad(fmt.Sprintf("padding of %d bytes at offset %d", length, off))
			}
			r.cursor += length
			continue
		}
		size := align(length)
		if length < RecordHeader || length > r.maxRecord || off+size > r.capacity || r.cursor+size > tail {
			return Record{}, false, r.bad(fmt.Sprintf("record length %d at offset %d", length, off))
		}
		seq := u64(r.data, off+recSeq).Load()
		ts := int64(u64(r.data, off+recTimestamp).Load())
		n := int(length - RecordHeader)
		if cap(dst) < n {
			dst = make([]byte, n, max(n, int(r.maxRecord)))
		}
		dst = dst[:n]
		readPayload(dst, r.data[off+RecordHeader:off+size])
		if !r.intact(r.cursor) { // the writer reached the record while we copied it
			return Record{}, false, r.lapped()
		}
		if seq != r.expect {
			if seq < r.expect {
				return Record{}, false, fmt.Errorf("%w: sequence %d after %d", ErrCorrupt, seq, r.expect)
			}
			lost := seq - r.expect
			r.expect = seq
			r.laps++
			r.lost += lost
			return Record{}, false, &LapError{Lost: lost}
		}
		r.expect++
		r.cursor += size
		return Record{Type: typ, Seq: seq, Timestamp: ts, Payload: dst}, true, nil
	}
}

// bad decides between a lap (the writer overwrote what we read) and corruption.
func (r *Reader) bad(what string) error {
	if !r.intact(r.cursor) {
		return r.lapped()
	}
	return fmt.Errorf("%w: %s", ErrCorrupt, what)
}

// lapped moves the cursor to the newest record and reports what was lost.
func (r *Reader) lapped() error {
	for range 1000 {
		pos := r.c.latest.Load()
		seq, err := r.seqAt(pos)
		if err == errRetry {
			continue
		}
		if err != nil {
			return err
		}
		if seq < r.expect {
			return fmt.Errorf("%w: newest sequence %d behind the reader's %d", ErrCorrupt, seq, r.expect)
		}
		lost := seq - r.expect
		r.cursor, r.expect, r.tail = pos, seq, 0
		r.laps++
		r.lost += lost
		return &LapError{Lost: lost}
	}
	return fmt.Errorf("%w: the writer keeps overwriting the newest record", ErrCorrupt)
}

// Next returns the next record, waiting for it as the reader's Wait
// strategy says. It returns ErrClosed once the writer closed and every
// record was read, ErrReaderClosed after Close, the liveness check's error
// (wrapping ErrProducerGone), a *LapError, or ErrCorrupt.
func (r *Reader) Next(dst []byte) (Record, error) {
	spins := 0
	var nextCheck int64 // the liveness check's time, set at the first wait: a record at hand costs no clock read
	for {
		rec, ok, err := r.TryNext(dst)
		if ok || err != nil {
			return rec, err
		}
		if r.closed.Load() {
			return Record{}, ErrReaderClosed
		}
		if r.c.closed.Load() != 0 && r.c.tail.Load() == r.cursor {
			return Record{}, ErrClosed
		}
		spins++
		if r.opts.Wait != WaitSpin && spins == 1 || r.solo && (spins == 1 || spins%spinYield == 0) {
			// Nothing to read: first let the goroutines this one has just
			// readied (the handlers of what it read) run on this thread,
			// rather than wait for another to wake up and take them.
			runtime.Gosched()
		}
		if spins&1023 == 0 || spins > r.opts.Spins {
			if now := Nanotime(); nextCheck == 0 {
				nextCheck = now + int64(r.opts.LivenessInterval)
			} else if now >= nextCheck {
				nextCheck = now + int64(r.opts.LivenessInterval)
				r.solo = soloSpinner(r.opts.Wait) // GOMAXPROCS may have changed
				if err := r.checkLiveness(); err != nil {
					return Record{}, err
				}
			}
		}
		switch {
		case r.opts.Wait == WaitSpin || spins <= r.opts.Spins:
			continue
		case r.opts.Wait == WaitYield:
			runtime.Gosched()
		default:
			r.sleep()
		}
	}
}

func (r *Reader) checkLiveness() error {
	if r.opts.Liveness == nil {
		return nil
	}
	if err := r.opts.Liveness(); err != nil {
		if errors.Is(err, ErrProducerGone) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrProducerGone, err)
	}
	return nil
}

// sleep registers as a sleeper, re-checks for data, and sleeps on the
// futex word until the writer bumps it or the liveness interval passes.
// With Go's sequentially consistent atomics either the writer sees the
// sleeper count and the armed value (and wakes), or this reader sees the
// new tail: no lost wake-up.
func (r *Reader) sleep() {
	r.c.waiters.Add(1)
	seen := r.c.futex.Load()
	r.arm(seen)
	if r.c.tail.Load() == r.cursor && r.c.closed.Load() == 0 && !r.closed.Load() {
		futexWait(futexAddr(r.c), seen, r.opts.LivenessInterval)
	}
	r.c.waiters.Add(^uint32(0))
}

// arm records that a reader sleeps on futex word value v, for the writer,
// which wakes readers only when some reader armed the word's current
// value. armed only moves forward (comparing across wrap-around): a
// reader that loaded an older value must not hide a newer sleeper, and
// its own wait on the old value returns at once.
func (r *Reader) arm(v uint32) {
	for {
		cur := r.c.armed.Load()
		if int32(v-cur) <= 0 || r.c.armed.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Close makes a Next in progress (or the next one) return ErrReaderClosed.
// Close is idempotent and may be called from any goroutine.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.c.futex.Add(1) // readers sharing the word wake once and sleep again
	futexWake(futexAddr(r.c))
	return nil
}
