package mp

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Reader reads msgpack values from B, by hand: no msgpack.Decoder, no
// allocation but what a caller keeps. The first error sticks: after it,
// every read returns a zero value, and End returns the error. Errors wrap
// the sentinel the Reader was made with, so each codec reports its own
// class of bad input (a frame's, a trading object's).
type Reader struct {
	B        []byte
	Pos      int
	Err      error
	sentinel error
	what     string
}

// NewReader reads b; errors wrap sentinel and name what is being read.
func NewReader(b []byte, sentinel error, what string) Reader {
	return Reader{B: b, sentinel: sentinel, what: what}
}

// Fail records an error at the current position, unless one is recorded.
func (r *Reader) Fail(what string) {
	if r.Err == nil {
		if r.what == "" {
			r.Err = fmt.Errorf("%w: %s at byte %d", r.sentinel, what, r.Pos)
		} else {
			r.Err = fmt.Errorf("%w: %s: %s at byte %d", r.sentinel, r.what, what, r.Pos)
		}
	}
}

// Need reports whether n more bytes are there, failing if not.
func (r *Reader) Need(n int) bool {
	if r.Err != nil {
		return false
	}
	if n < 0 || len(r.B)-r.Pos < n {
		r.Fail("truncated")
		return false
	}
	return true
}

// Left is the number of bytes not read yet.
func (r *Reader) Left() int { return len(r.B) - r.Pos }

// Peek returns the next byte without reading it; ok is false at the end
// or after an error.
func (r *Reader) Peek() (c byte, ok bool) {
	if r.Err != nil || r.Pos >= len(r.B) {
		return 0, false
	}
	return r.B[r.Pos], true
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if !r.Need(1) {
		return 0
	}
	c := r.B[r.Pos]
	r.Pos++
	return c
}

// be reads an n-byte big-endian unsigned integer (n is 1, 2, 4 or 8).
func (r *Reader) be(n int) uint64 {
	if !r.Need(n) {
		return 0
	}
	p := r.B[r.Pos : r.Pos+n]
	r.Pos += n
	switch n {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(p))
	case 4:
		return uint64(binary.BigEndian.Uint32(p))
	}
	return binary.BigEndian.Uint64(p)
}

// Header reads an array or a map header: its length, and whether it is a
// map (whose length counts pairs). Anything else fails.
func (r *Reader) Header() (n int, isMap bool) {
	c := r.Byte()
	switch {
	case r.Err != nil:
	case c&0xf0 == 0x90:
		return int(c & 0x0f), false
	case c&0xf0 == 0x80:
		return int(c & 0x0f), true
	case c == 0xdc:
		return int(r.be(2)), false
	case c == 0xdd:
		return int(r.be(4)), false
	case c == 0xde:
		return int(r.be(2)), true
	case c == 0xdf:
		return int(r.be(4)), true
	default:
		r.Pos--
		r.Fail(fmt.Sprintf("want an array or a map, got 0x%02x", c))
	}
	return 0, false
}

// PeekMap reports whether the next value is a map.
func (r *Reader) PeekMap() bool {
	c, ok := r.Peek()
	return ok && (c&0xf0 == 0x80 || c == 0xde || c == 0xdf)
}

// ArrayLen reads an array header; a map or anything else fails.
func (r *Reader) ArrayLen() int {
	n, isMap := r.Header()
	if isMap {
		r.Fail("want an array, got a map")
		return 0
	}
	return n
}

// UintStrict reads a non-negative integer in any integer format; nil and
// negative values fail. For the numbers of the call protocol's frames,
// where msgpack/v5's leniency would turn a client's mistake into id 0 or
// an endless timeout.
func (r *Reader) UintStrict() uint64 {
	c, ok := r.Peek()
	switch {
	case !ok:
		r.Need(1)
		return 0
	case c <= 0x7f:
		r.Pos++
		return uint64(c)
	case c >= 0xcc && c <= 0xcf:
		r.Pos++
		return r.be(1 << (c - 0xcc))
	case c >= 0xd0 && c <= 0xd3:
		if v := r.Int(); v >= 0 || r.Err != nil {
			return uint64(v)
		}
		r.Fail("want a non-negative integer, got a negative one")
		return 0
	case c >= 0xe0:
		r.Fail("want a non-negative integer, got a negative one")
		return 0
	}
	r.Fail(fmt.Sprintf("want a non-negative integer, got 0x%02x", c))
	return 0
}

// IntStrict reads an integer in any integer format that fits an int64;
// nil and a uint64 past MaxInt64 fail.
func (r *Reader) IntStrict() int64 {
	c, ok := r.Peek()
	switch {
	case !ok:
		r.Need(1)
		return 0
	case c == 0xcf:
		if v := r.UintStrict(); v <= math.MaxInt64 || r.Err != nil {
			return int64(v)
		}
		r.Fail("integer out of the int64 range")
		return 0
	case c == 0xc0:
		r.Fail("want an integer, got nil")
		return 0
	}
	return r.Int()
}

// Uint reads an integer in any integer format as a uint64; a negative
// one is taken as its two's complement, as msgpack/v5's DecodeUint64 does.
func (r *Reader) Uint() uint64 {
	if c, ok := r.Peek(); ok && c >= 0xcc && c <= 0xcf {
		r.Pos++
		return r.be(1 << (c - 0xcc))
	}
	return uint64(r.Int())
}

// Int reads an integer in any integer format as an int64; nil reads as
// 0, and a uint64 past MaxInt64 as its two's complement, as msgpack/v5's
// Decoder has them.
func (r *Reader) Int() int64 {
	c := r.Byte()
	switch {
	case r.Err != nil, c == 0xc0:
		return 0
	case c <= 0x7f || c >= 0xe0:
		return int64(int8(c))
	case c >= 0xcc && c <= 0xcf:
		return int64(r.be(1 << (c - 0xcc))) // a uint64 past MaxInt64 wraps, as in msgpack/v5
	case c >= 0xd0 && c <= 0xd3:
		n := 1 << (c - 0xd0)
		shift := 64 - 8*n
		return int64(r.be(n)<<shift) >> shift // sign-extend
	}
	r.Pos--
	r.Fail(fmt.Sprintf("want an integer, got 0x%02x", c))
	return 0
}

// Float reads a float64, a float32 or an integer as a float64.
func (r *Reader) Float() float64 {
	if r.Err == nil && len(r.B)-r.Pos >= 9 && r.B[r.Pos] == 0xcb { // the usual form, one check
		v := math.Float64frombits(binary.BigEndian.Uint64(r.B[r.Pos+1:]))
		r.Pos += 9
		return v
	}
	c, ok := r.Peek()
	switch {
	case !ok:
		r.Need(1)
		return 0
	case c == 0xcb:
		r.Pos++
		return math.Float64frombits(r.be(8))
	case c == 0xca:
		r.Pos++
		return float64(math.Float32frombits(uint32(r.be(4))))
	}
	return float64(r.Int())
}

// StrBytes reads a str, a bin or nil (empty) and returns a view of its
// bytes, valid as long as B.
func (r *Reader) StrBytes() []byte {
	if r.Err == nil && r.Pos < len(r.B) { // a short string whole: one check
		if c := r.B[r.Pos]; c&0xe0 == 0xa0 {
			if end := r.Pos + 1 + int(c&0x1f); end <= len(r.B) {
				s := r.B[r.Pos+1 : end]
				r.Pos = end
				return s
			}
		}
	}
	c := r.Byte()
	var n int
	switch {
	case r.Err != nil:
		return nil
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case sizeWidth(c) > 0:
		n = int(r.be(sizeWidth(c)))
	case c == 0xc0:
		return nil
	default:
		r.Pos--
		r.Fail(fmt.Sprintf("want a string, got 0x%02x", c))
		return nil
	}
	if !r.Need(n) {
		return nil
	}
	s := r.B[r.Pos : r.Pos+n]
	r.Pos += n
	return s
}

// sizeWidth is the width of the size after a str 8/16/32 or bin 8/16/32
// code (1, 2 or 4 bytes), or 0 for any other code.
func sizeWidth(c byte) int {
	switch c {
	case 0xd9, 0xc4:
		return 1
	case 0xda, 0xc5:
		return 2
	case 0xdb, 0xc6:
		return 4
	}
	return 0
}

// IsStr reports whether the next value is in a str format (not bin, not nil).
func (r *Reader) IsStr() bool {
	c, ok := r.Peek()
	return ok && (c&0xe0 == 0xa0 || c == 0xd9 || c == 0xda || c == 0xdb)
}

// Str sets *dst to the next string (StrBytes), keeping *dst when it is
// equal: a reused value whose strings repeat costs no allocation.
func (r *Reader) Str(dst *string) {
	b := r.StrBytes()
	if r.Err == nil && string(b) != *dst {
		*dst = string(b)
	}
}

// Bin reads a bin or a str as a copy, or nil as nil.
func (r *Reader) Bin() []byte {
	if c, ok := r.Peek(); ok && c == 0xc0 {
		r.Pos++
		return nil
	}
	b := r.StrBytes()
	if r.Err != nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// Nil reads nil if it is next and reports whether it was.
func (r *Reader) Nil() bool {
	if c, ok := r.Peek(); ok && c == 0xc0 {
		r.Pos++
		return true
	}
	return false
}

// Skip passes over one value of any type, nested values included. It
// keeps a count of the values still to pass rather than recursing, so no
// nesting depth costs stack; a count larger than the bytes left (every
// value takes a byte at least) fails at once.
func (r *Reader) Skip() {
	for pending := 1; pending > 0 && r.Err == nil; pending-- {
		c := r.Byte()
		var n, elems int
		switch {
		case r.Err != nil:
			return
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c&0xe0 == 0xa0:
			n = int(c & 0x1f)
		case c&0xf0 == 0x90:
			elems = int(c & 0x0f)
		case c&0xf0 == 0x80:
			elems = 2 * int(c&0x0f)
		case c == 0xcc || c == 0xd0:
			n = 1
		case c == 0xcd || c == 0xd1:
			n = 2
		case c == 0xce || c == 0xd2 || c == 0xca:
			n = 4
		case c == 0xcf || c == 0xd3 || c == 0xcb:
			n = 8
		case sizeWidth(c) > 0:
			n = int(r.be(sizeWidth(c)))
		case c == 0xdc:
			elems = int(r.be(2))
		case c == 0xdd:
			elems = int(r.be(4))
		case c == 0xde:
			elems = 2 * int(r.be(2))
		case c == 0xdf:
			elems = 2 * int(r.be(4))
		case c >= 0xd4 && c <= 0xd8: // fixext: a type byte and 1..16 bytes
			n = 1 + 1<<(c-0xd4)
		case c >= 0xc7 && c <= 0xc9: // ext 8/16/32: a type byte after the size
			n = int(r.be(1<<(c-0xc7))) + 1
		default:
			r.Pos--
			r.Fail(fmt.Sprintf("invalid byte 0x%02x", c))
			return
		}
		if !r.Need(n) {
			return
		}
		r.Pos += n
		if pending-1+elems > r.Left() {
			r.Fail("truncated")
			return
		}
		pending += elems
	}
}

// End returns the first error, or an error if bytes are left over.
func (r *Reader) End() error {
	if r.Err == nil && r.Pos != len(r.B) {
		r.Fail(fmt.Sprintf("%d trailing bytes", len(r.B)-r.Pos))
	}
	return r.Err
}
