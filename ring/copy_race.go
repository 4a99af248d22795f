//go:build linux && race

package ring

import "encoding/binary"

// Race builds move payloads a word at a time with atomic loads and stores.
// The protocol is the same as in normal builds (readers copy, then
// validate); the atomics only tell the race detector that the overlap of a
// reader's copy with the writer's overwrite is intended, while every
// counter of the protocol stays checked.

func storeHeaderWord(b []byte, off, v uint64) { u64(b, off).Store(v) }

// writePayload stores src into dst, an 8-aligned ring region with room for
// src rounded up to 8 bytes.
func writePayload(dst, src []byte) {
	n := len(src)
	i := 0
	for ; i+8 <= n; i += 8 {
		u64(dst, uint64(i)).Store(binary.LittleEndian.Uint64(src[i:]))
	}
	if i < n {
		var w [8]byte
		copy(w[:], src[i:])
		u64(dst[:i+8:i+8], uint64(i)).Store(binary.LittleEndian.Uint64(w[:]))
	}
}

// readPayload loads len(dst) bytes from src, an 8-aligned ring region
// readable up to len(dst) rounded up to 8 bytes.
func readPayload(dst, src []byte) {
	n := len(dst)
	i := 0
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], u64(src, uint64(i)).Load())
	}
	if i < n {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], u64(src[:i+8:i+8], uint64(i)).Load())
		copy(dst[i:], w[:n-i])
	}
}

// directClaim: race builds hand Claim a scratch buffer and copy it in at
// Commit, so the payload store is visible to the race detector as atomic.
const directClaim = false
