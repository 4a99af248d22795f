package ring

import (
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzBuffer is a written ring whose bytes the fuzzer then overwrites.
func fuzzBuffer(t testing.TB) []byte {
	w, buf := newRing(t, MinCapacity)
	for i := range 40 { // more than a lap, so padding and wrap are in the image
		if _, err := w.Write(uint32(1+i%3), make([]byte, 8+i%50)); err != nil {
			t.Fatal(err)
		}
	}
	return buf
}

func acceptable(err error) bool {
	return errors.Is(err, ErrIncompatible) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrLapped)
}

// FuzzReader: a reader over a ring whose data and counters are arbitrary
// bytes never panics, never reads out of range, and fails only with
// ErrIncompatible, ErrCorrupt or ErrLapped.
func FuzzReader(f *testing.F) {
	f.Add(uint16(HeaderSize), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint16(offTail), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(uint16(offLatest), []byte{7, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint16(HeaderSize+8), []byte{0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, at uint16, patch []byte) {
		buf := fuzzBuffer(t)
		// Keep the header's identity so the fuzzer reaches counters and records.
		start := max(int(at)%len(buf), offTailIntent)
		copy(buf[start:], patch)
		for _, o := range []ReaderOptions{{Start: StartNewest}, {Start: StartOldest}} {
			r, err := NewReader(buf, o)
			if err != nil {
				if !acceptable(err) {
					t.Fatalf("attach: %v", err)
				}
				continue
			}
			var dst []byte
			for range 200 {
				rec, ok, err := r.TryNext(dst)
				if err != nil {
					if !acceptable(err) {
						t.Fatalf("read: %v", err)
					}
					if !errors.Is(err, ErrLapped) {
						break
					}
					continue
				}
				if !ok {
					break
				}
				if len(rec.Payload) > MaxPayload(MinCapacity) {
					t.Fatalf("delivered %d bytes, above the maximum", len(rec.Payload))
				}
				dst = rec.Payload
			}
		}
	})
}

// FuzzAttach: arbitrary header bytes are refused or accepted, never a panic.
func FuzzAttach(f *testing.F) {
	f.Add(fuzzBuffer(f)[:HeaderSize])
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		buf := make([]byte, Size(MinCapacity))
		copy(buf, hdr)
		if len(hdr) >= 8 && binary.LittleEndian.Uint64(hdr) == 0 {
			binary.LittleEndian.PutUint64(buf, magic) // help the fuzzer past the magic
		}
		r, err := NewReader(buf, ReaderOptions{})
		if err != nil {
			if !acceptable(err) {
				t.Fatalf("attach: %v", err)
			}
			return
		}
		for range 50 {
			if _, ok, err := r.TryNext(nil); !ok || err != nil {
				if err != nil && !acceptable(err) {
					t.Fatalf("read: %v", err)
				}
				return
			}
		}
	})
}
