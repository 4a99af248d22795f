//go:build linux

package ring

import (
	"sync/atomic"
	"unsafe"
)

// The ring's memory, at the start of the caller's buffer. The two counters
// every reader loads for every record (tailIntent and tail) share one cache
// line, so a record costs one line transfer to each reader, not one per
// counter. latest and oldest, which readers load only when they start or
// are lapped, sit on the next line; the line readers write (sleeper
// registration) is separate, so the writer never contends with readers
// that keep up.
//
//	offset  line  field                        written by
//	     0     0  magic       u64              NewWriter, then read-only
//	     8     0  version     u32
//	    12     0  headerSize  u32
//	    16     0  capacity    u64 (power of 2)
//	    24     0  maxRecord   u64
//	    32     0  producerPID u64
//	    64     1  tailIntent  u64              writer: end of the record being written
//	    72     1  tail        u64              writer: end of the last committed record
//	   128     2  latest      u64              writer: start of the last committed record
//	   136     2  oldest      u64              writer: start of the oldest record still intact
//	   144     2  closed      u32              writer: 1 once the writer closed
//	   148     2  futexWord   u32              writer: bumped on every wake
//	   192     3  waiters     u32              readers: how many sleep or are about to
//	   196     3  armed       u32              readers: the futex word value a reader sleeps on
//	   256        data: capacity bytes of records
//
// Positions (tailIntent, tail, latest, oldest) count bytes since the ring
// was created and never wrap; a position's offset in the data is pos &
// (capacity-1). A record never straddles the end of the data: when it would,
// the writer fills the rest with a padding record, so a record starts at
// every multiple of capacity.
//
// A record is a 24-byte header and the payload, padded to 8 bytes:
//
//	0  length     u32  header + payload (unpadded); padding: bytes to the end
//	4  type       u32  > 0; 0 marks padding
//	8  seq        u64  0, 1, 2 … in write order (padding: not counted)
//	16 timestamp  i64  CLOCK_MONOTONIC nanoseconds at commit
//	24 payload
//
// These constants are the shared-memory format: change any of them and
// bump layoutVersion.
const (
	cacheLine = 64

	offMagic      = 0
	offVersion    = offMagic + 8
	offHeaderSize = offVersion + 4
	offCapacity   = offHeaderSize + 4
	offMaxRecord  = offCapacity + 8
	offPID        = offMaxRecord + 8
	offTailIntent = 1 * cacheLine
	offTail       = offTailIntent + 8
	offLatest     = 2 * cacheLine
	offOldest     = offLatest + 8
	offClosed     = offOldest + 8
	offFutex      = offClosed + 4
	offWaiters    = 3 * cacheLine
	offArmed      = offWaiters + 4
	HeaderSize    = 4 * cacheLine

	recLength    = 0
	recType      = recLength + 4
	recSeq       = recType + 4
	recTimestamp = recSeq + 8
	RecordHeader = recTimestamp + 8

	alignment     = 8
	magic         = 0x474e4952_43505256 // "VRPCRING" little-endian
	layoutVersion = 2
	typePadding   = 0
)

// counters are typed views of the header, made once at attach time.
type counters struct {
	tailIntent, tail, latest, oldest *atomic.Uint64
	closed, futex, waiters, armed    *atomic.Uint32
}

// aligned8 reports whether b starts on an 8-byte boundary.
func aligned8(b []byte) bool { return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%alignment == 0 }

// u64 and u32 view an aligned header or record word; callers bounds-check off.
func u64(b []byte, off uint64) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&b[off])) }
func u32(b []byte, off uint64) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&b[off])) }

// plain64 views an aligned word for a plain store (normal builds only).
func plain64(b []byte, off uint64) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }

func viewCounters(b []byte) counters {
	return counters{tailIntent: u64(b, offTailIntent), tail: u64(b, offTail), latest: u64(b, offLatest),
		oldest: u64(b, offOldest), closed: u32(b, offClosed), futex: u32(b, offFutex), waiters: u32(b, offWaiters),
		armed: u32(b, offArmed)}
}

// futexAddr is the address the blocking wait sleeps on.
func futexAddr(c counters) uintptr { return uintptr(unsafe.Pointer(c.futex)) }

// Nanotime is CLOCK_MONOTONIC in nanoseconds, read through the vDSO: the
// same clock in every process of the host, so a reader can subtract a
// record's timestamp from its own reading.
//
//go:linkname Nanotime runtime.nanotime
func Nanotime() int64
