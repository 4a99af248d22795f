//go:build linux

package ring

import (
	"errors"
	"fmt"
	"math/bits"
)

// Errors callers branch on (with errors.Is).
var (
	// ErrIncompatible: the buffer is not a ring of this layout (bad magic,
	// version, sizes or alignment).
	ErrIncompatible = errors.New("ring: incompatible buffer")
	// ErrCorrupt: a header or record fails its bounds checks in a way no
	// writer of this layout produces.
	ErrCorrupt = errors.New("ring: corrupt ring")
	// ErrLapped: the writer overtook the reader; records were lost. The
	// error is a *LapError with the exact count.
	ErrLapped = errors.New("ring: reader lapped")
	// ErrTooLarge: a record does not fit the ring's maximum record size.
	ErrTooLarge = errors.New("ring: record too large")
	// ErrClosed: the writer closed the ring and every record was read.
	ErrClosed = errors.New("ring: writer closed")
	// ErrReaderClosed: the reader was closed.
	ErrReaderClosed = errors.New("ring: reader closed")
	// ErrProducerGone: the liveness check says the writer's process is
	// gone without closing (it crashed or was killed).
	ErrProducerGone = errors.New("ring: producer gone")
)

// LapError reports that the writer overtook the reader. Lost is the exact
// number of records the reader missed; it resumes at the newest record.
type LapError struct{ Lost uint64 }

func (e *LapError) Error() string { return fmt.Sprintf("ring: reader lapped, %d records lost", e.Lost) }
func (e *LapError) Unwrap() error { return ErrLapped }

// MinCapacity is the smallest data capacity.
const MinCapacity = 1024

// Size returns the buffer length a ring of the given data capacity needs.
func Size(capacity int) int { return HeaderSize + capacity }

// MaxRecord returns the largest record (header and payload) a ring of that
// capacity accepts: an eighth of the capacity, so a slow reader keeps
// several records' worth of slack before it is lapped.
func MaxRecord(capacity int) int { return capacity / 8 }

// MaxPayload is the largest payload a ring of that capacity accepts.
func MaxPayload(capacity int) int { return MaxRecord(capacity) - RecordHeader }

func align(n uint64) uint64 { return (n + alignment - 1) &^ (alignment - 1) }

// geometry is what both ends derive from a checked header.
type geometry struct {
	data      []byte
	c         counters
	capacity  uint64
	mask      uint64
	maxRecord uint64
}

func checkCapacity(capacity int) error {
	if capacity < MinCapacity || bits.OnesCount(uint(capacity)) != 1 {
		return fmt.Errorf("%w: capacity %d is not a power of two of at least %d", ErrIncompatible, capacity, MinCapacity)
	}
	return nil
}

// attach validates a ring header and returns the geometry. It never reads
// outside buf.
func attach(buf []byte) (geometry, error) {
	if len(buf) < HeaderSize+MinCapacity {
		return geometry{}, fmt.Errorf("%w: buffer of %d bytes is smaller than the header and minimum capacity", ErrIncompatible, len(buf))
	}
	if !aligned8(buf) {
		return geometry{}, fmt.Errorf("%w: buffer is not 8-byte aligned", ErrIncompatible)
	}
	if m := u64(buf, offMagic).Load(); m != magic {
		return geometry{}, fmt.Errorf("%w: magic %#x, want %#x", ErrIncompatible, m, uint64(magic))
	}
	if v := u32(buf, offVersion).Load(); v != layoutVersion {
		return geometry{}, fmt.Errorf("%w: layout version %d, this build reads %d", ErrIncompatible, v, layoutVersion)
	}
	if h := u32(buf, offHeaderSize).Load(); h != HeaderSize {
		return geometry{}, fmt.Errorf("%w: header size %d, want %d", ErrIncompatible, h, HeaderSize)
	}
	capacity := u64(buf, offCapacity).Load()
	if capacity != uint64(len(buf)-HeaderSize) {
		return geometry{}, fmt.Errorf("%w: capacity %d does not match the buffer's %d data bytes", ErrIncompatible, capacity, len(buf)-HeaderSize)
	}
	if err := checkCapacity(int(capacity)); err != nil {
		return geometry{}, err
	}
	if mr := u64(buf, offMaxRecord).Load(); mr != uint64(MaxRecord(int(capacity))) {
		return geometry{}, fmt.Errorf("%w: max record %d, want %d", ErrIncompatible, mr, MaxRecord(int(capacity)))
	}
	return geometry{data: buf[HeaderSize:], c: viewCounters(buf), capacity: capacity, mask: capacity - 1,
		maxRecord: uint64(MaxRecord(int(capacity)))}, nil
}
