//go:build linux

package ring

import (
	"errors"
	"fmt"
	"os"
)

// Writer is the ring's single producer. It never waits for readers, and
// its cost does not depend on how many there are: it reads nothing they
// write except the count of sleeping readers, and only to decide whether to
// wake them. A Writer is not safe for concurrent use: one goroutine writes.
type Writer struct {
	geometry
	tail   uint64 // local copies of what the writer owns
	oldest uint64
	seq    uint64
	stamp  int64 // the last record's timestamp

	pending  bool
	pendOff  uint64 // offset of the claimed record
	pendLen  uint64 // header + payload
	pendType uint32
	scratch  []byte // race builds: Claim's buffer
	closed   bool
}

// NewWriter formats buf as an empty ring and returns its writer. len(buf)
// must be Size(capacity) for a power-of-two capacity of at least
// MinCapacity, and buf must be 8-byte aligned (a page-aligned mapping or a
// heap allocation is). Readers attach to the same bytes with NewReader.
func NewWriter(buf []byte) (*Writer, error) {
	if len(buf) < HeaderSize {
		return nil, fmt.Errorf("%w: buffer of %d bytes is smaller than the header", ErrIncompatible, len(buf))
	}
	if err := checkCapacity(len(buf) - HeaderSize); err != nil {
		return nil, err
	}
	if !aligned8(buf) {
		return nil, fmt.Errorf("%w: buffer is not 8-byte aligned", ErrIncompatible)
	}
	clear(buf[:HeaderSize])
	capacity := uint64(len(buf) - HeaderSize)
	u32(buf, offVersion).Store(layoutVersion)
	u32(buf, offHeaderSize).Store(HeaderSize)
	u64(buf, offCapacity).Store(capacity)
	u64(buf, offMaxRecord).Store(uint64(MaxRecord(int(capacity))))
	u64(buf, offPID).Store(uint64(os.Getpid()))
	u64(buf, offMagic).Store(magic) // last: a reader attaching early sees no magic
	g, err := attach(buf)
	if err != nil {
		return nil, err
	}
	return &Writer{geometry: g}, nil
}

// Capacity is the ring's data capacity in bytes.
func (w *Writer) Capacity() int { return int(w.capacity) }

// MaxPayload is the largest payload Write and Claim accept.
func (w *Writer) MaxPayload() int { return int(w.maxRecord) - RecordHeader }

// Write appends one record of type typ (> 0) and returns its sequence
// number. It never blocks.
func (w *Writer) Write(typ uint32, payload []byte) (uint64, error) {
	b, err := w.Claim(typ, len(payload))
	if err != nil {
		return 0, err
	}
	copy(b, payload)
	return w.Commit()
}

// Stamp returns the timestamp of the last record committed (Nanotime at
// its Commit), for a publisher that sends the same record elsewhere too.
func (w *Writer) Stamp() int64 { return w.stamp }

// Claim reserves a record of type typ with an n-byte payload and returns
// the bytes to fill; Commit publishes it. Between the two, readers do not
// see the record. Every successful Claim must be followed by one Commit
// before the next Claim. In normal builds the bytes are the ring's own, so
// an encoder can write straight into the ring with no copy.
func (w *Writer) Claim(typ uint32, n int) ([]byte, error) {
	switch {
	case w.closed:
		return nil, ErrClosed
	case w.pending:
		return nil, errors.New("ring: Claim before the previous Commit")
	case typ == typePadding:
		return nil, errors.New("ring: record type 0 is reserved")
	case n < 0 || uint64(n) > w.maxRecord-RecordHeader:
		return nil, fmt.Errorf("%w: %d-byte payload, at most %d", ErrTooLarge, n, w.maxRecord-RecordHeader)
	}
	length := uint64(RecordHeader + n)
	size := align(length)
	off := w.tail & w.mask
	pad := uint64(0)
	if toEnd := w.capacity - off; toEnd < size {
		pad = toEnd
	}
	end := w.tail + pad + size
	w.reclaim(end)
	w.c.tailIntent.Store(end)
	if pad > 0 {
		storeHeaderWord(w.data, off+recLength, pad) // length pad, type 0
		w.tail += pad
		off = 0
	}
	w.pending, w.pendOff, w.pendLen, w.pendType = true, off, length, typ
	if directClaim {
		return w.data[off+RecordHeader : off+length : off+length], nil
	}
	if cap(w.scratch) < n {
		w.scratch = make([]byte, n, w.maxRecord)
	}
	return w.scratch[:n], nil
}

// reclaim moves oldest past every record the write ending at end will
// overwrite, and publishes it before tailIntent.
func (w *Writer) reclaim(end uint64) {
	if end <= w.capacity {
		return
	}
	floor := end - w.capacity
	if w.oldest >= floor {
		return
	}
	for w.oldest < floor && w.oldest < w.tail {
		l := uint64(uint32(u64(w.data, w.oldest&w.mask).Load()))
		if l < alignment || align(l) > w.capacity { // scribbled by someone else: give up the history
			w.oldest = w.tail
			break
		}
		w.oldest += align(l)
	}
	w.c.oldest.Store(w.oldest)
}

// Commit publishes the claimed record, stamped with CLOCK_MONOTONIC, wakes
// sleeping readers if there are any, and returns its sequence number.
func (w *Writer) Commit() (uint64, error) {
	if !w.pending {
		return 0, errors.New("ring: Commit without Claim")
	}
	off := w.pendOff
	if !directClaim {
		writePayload(w.data[off+RecordHeader:off+align(w.pendLen)], w.scratch[:w.pendLen-RecordHeader])
	}
	seq := w.seq
	storeHeaderWord(w.data, off+recLength, w.pendLen|uint64(w.pendType)<<32)
	storeHeaderWord(w.data, off+recSeq, seq)
	w.stamp = Nanotime()
	storeHeaderWord(w.data, off+recTimestamp, uint64(w.stamp))
	start := w.tail
	w.tail += align(w.pendLen)
	// tail before latest: a reader that loads latest and then tail always
	// finds the record at latest below tail (after padding, the record
	// starts beyond the old tail).
	w.c.tail.Store(w.tail)
	w.c.latest.Store(start)
	w.seq++
	w.pending = false
	// Wake only readers asleep on the word's current value: once woken,
	// readers stay counted in waiters until they run, and waking them
	// again for every record meanwhile cost a system call per record.
	if w.c.waiters.Load() != 0 && w.c.armed.Load() == w.c.futex.Load() {
		w.c.futex.Add(1)
		futexWake(futexAddr(w.c))
	}
	return seq, nil
}

// Close marks the ring closed and wakes every sleeping reader; readers
// return ErrClosed once they have read what was written. Close is
// idempotent.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.c.closed.Store(1)
	w.c.futex.Add(1)
	futexWake(futexAddr(w.c))
	return nil
}
