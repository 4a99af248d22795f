// Package mp is the one hand-written msgpack reader and writer that
// vnrpc's codecs share: the call runtime's frames (internal/callrt) and
// the trading schema's hot records (rpcservice/wire). Reader reads values
// with no msgpack.Decoder and no allocation; the Append functions write
// exactly what msgpack/v5's Encoder writes; Bounded guards msgpack/v5's
// Decoder against untrusted sizes.
//
// msgpack/v5's Decoder allocates a bin value's (and a skipped value's)
// declared length before it reads it: four bytes can ask for 4 GiB. Bounded
// walks the bytes first, without allocating, and refuses any length or
// element count that the bytes after it cannot hold.
package mp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxDepth bounds the nesting of arrays and maps.
const MaxDepth = 256

// ErrUnbounded is returned for a declared size larger than what follows
// it, a value cut short, or nesting deeper than MaxDepth.
var ErrUnbounded = errors.New("msgpack: a declared size exceeds the message")

// Bounded checks every value in b, one after another to its end: each
// value must be whole, and each string, bin, ext, array and map must fit
// in the bytes that follow its header. It says nothing else about b: a
// byte msgpack never uses (0xc1) is left for the decoder to report.
func Bounded(b []byte) error {
	w := walker{b: b}
	for w.i < len(w.b) && w.err == nil {
		w.value(0)
	}
	return w.err
}

type walker struct {
	b   []byte
	i   int
	err error
}

func (w *walker) fail(what string) {
	if w.err == nil {
		w.err = fmt.Errorf("%w: %s at byte %d", ErrUnbounded, what, w.i)
	}
}

// size reads an n-byte big-endian size; ok is false when b ends first.
func (w *walker) size(n int) (int, bool) {
	if len(w.b)-w.i < n {
		w.fail("a size cut short")
		return 0, false
	}
	p := w.b[w.i : w.i+n]
	w.i += n
	switch n {
	case 1:
		return int(p[0]), true
	case 2:
		return int(binary.BigEndian.Uint16(p)), true
	}
	return int(binary.BigEndian.Uint32(p)), true
}

// skip passes n payload bytes that must be there.
func (w *walker) skip(n int, what string) {
	if n > len(w.b)-w.i {
		w.fail(fmt.Sprintf("%s of %d bytes, %d left", what, n, len(w.b)-w.i))
		return
	}
	w.i += n
}

// items walks n values (2n for a map) that must each take a byte at least.
func (w *walker) items(n, depth int, what string) {
	if depth >= MaxDepth {
		w.fail("nesting deeper than " + fmt.Sprint(MaxDepth))
		return
	}
	if n > len(w.b)-w.i {
		w.fail(fmt.Sprintf("%s of %d items, %d bytes left", what, n, len(w.b)-w.i))
		return
	}
	for range n {
		if w.err != nil {
			return
		}
		if w.i >= len(w.b) {
			w.fail(what + " cut short")
			return
		}
		w.value(depth + 1)
	}
}

func (w *walker) value(depth int) {
	c := w.b[w.i]
	w.i++
	switch {
	case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3, c == 0xc1:
	case c&0xe0 == 0xa0:
		w.skip(int(c&0x1f), "a string")
	case c&0xf0 == 0x90:
		w.items(int(c&0x0f), depth, "an array")
	case c&0xf0 == 0x80:
		w.items(2*int(c&0x0f), depth, "a map")
	case c == 0xcc || c == 0xd0:
		w.skip(1, "an integer")
	case c == 0xcd || c == 0xd1:
		w.skip(2, "an integer")
	case c == 0xce || c == 0xd2 || c == 0xca:
		w.skip(4, "a number")
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		w.skip(8, "a number")
	case c == 0xd4, c == 0xd5, c == 0xd6, c == 0xd7, c == 0xd8: // fixext: type byte + 1..16
		w.skip(1+1<<(c-0xd4), "an ext")
	case c >= 0xc4 && c <= 0xc6: // bin 8/16/32
		if n, ok := w.size(1 << (c - 0xc4)); ok {
			w.skip(n, "a bin")
		}
	case c >= 0xc7 && c <= 0xc9: // ext 8/16/32
		if n, ok := w.size(1 << (c - 0xc7)); ok {
			w.skip(1+n, "an ext")
		}
	case c >= 0xd9 && c <= 0xdb: // str 8/16/32
		if n, ok := w.size(1 << (c - 0xd9)); ok {
			w.skip(n, "a string")
		}
	case c == 0xdc || c == 0xdd:
		if n, ok := w.size(2 << (c - 0xdc)); ok {
			w.items(n, depth, "an array")
		}
	case c == 0xde || c == 0xdf:
		if n, ok := w.size(2 << (c - 0xde)); ok && n <= len(w.b) {
			w.items(2*n, depth, "a map")
		} else if ok {
			w.fail(fmt.Sprintf("a map of %d entries, %d bytes left", n, len(w.b)-w.i))
		}
	}
}
