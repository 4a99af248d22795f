//go:build linux

package shm

import (
	"sync/atomic"
	"unsafe"
)

// The segment header, at the start of the file; the user's bytes follow at
// HeaderSize, page-aligned. Hot fields are on cache lines of their own.
//
//	offset  field
//	     0  magic       u64  "VRPCSHM1"
//	     8  version     u32
//	    12  headerSize  u32
//	    16  epoch       u64  random per creation
//	    24  capacity    u64  user bytes after the header
//	    32  creatorPID  u64
//	    40  createdNs   i64  Unix nanoseconds
//	    64  heartbeat   i64  Unix nanoseconds of the producer's last Beat
//	   128  closed      u32  1 once the producer closed
//
// These constants are the shared-memory format: change them and bump
// layoutVersion; docs/protocol.md §7 has the same table, and
// TestHeaderMatchesTheProtocolDoc checks one against the other.
const (
	cacheLine = 64

	offMagic      = 0
	offVersion    = offMagic + 8
	offHeaderSize = offVersion + 4
	offEpoch      = offHeaderSize + 4
	offCapacity   = offEpoch + 8
	offPID        = offCapacity + 8
	offCreated    = offPID + 8
	offHeartbeat  = 1 * cacheLine // the producer writes it every heartbeat: a line of its own
	offClosed     = 2 * cacheLine

	// HeaderSize is the header's size; the user's bytes start there.
	HeaderSize    = 4096
	magic         = 0x314d_4853_4350_5256 // "VRPCSHM1" little-endian
	layoutVersion = 1
)

func u64(b []byte, off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&b[off])) }
func u32(b []byte, off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&b[off])) }
