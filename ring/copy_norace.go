//go:build linux && !race

package ring

// Normal builds copy payloads with plain memory moves. A reader's copy may
// overlap the writer overwriting the same bytes; the reader re-checks
// tailIntent after copying and discards a copy that may be torn (seqlock),
// so no torn record is ever delivered. Record header words are stored
// plainly by the writer (published by the atomic store of tail) and loaded
// atomically by readers.

// storeHeaderWord writes a record header word; plain in normal builds.
func storeHeaderWord(b []byte, off, v uint64) { *plain64(b, off) = v }

func writePayload(dst, src []byte) { copy(dst, src) }

func readPayload(dst, src []byte) { copy(dst, src) }

// directClaim: normal builds let Claim hand out the ring's own bytes, so
// callers encode in place with no extra copy.
const directClaim = true
