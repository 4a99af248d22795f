package frame

import (
	"encoding/binary"
	"math"
)

// The decoders' quick path takes a message in the usual forms by hand, with
// no msgpack.Decoder: a fixarray of 5, integers in any msgpack integer
// format, strings as str, payloads as bin or nil, nothing after. Anything
// else goes to the general path (decode, decodeEvent), which decides, so
// both accept and reject exactly the same inputs (FuzzQuick checks it).

// decodeQuick decodes a request or a reply; ok is false when body is not
// in the usual form.
func decodeQuick(body []byte) (q *Request, p *Reply, ok bool) {
	r := quick{b: body}
	if r.byte() != 0x95 {
		return nil, nil, false
	}
	kind, kok := r.uint()
	id, iok := r.uint()
	if !kok || !iok {
		return nil, nil, false
	}
	switch kind {
	case kindRequest:
		method, mok := r.str()
		deadline, dok := r.int()
		args, aok := r.bin()
		if !mok || !dok || !aok || r.i != len(body) {
			return nil, nil, false
		}
		return &Request{ID: id, Method: method, Deadline: deadline, Args: args}, nil, true
	case kindReply:
		code, cok := r.int()
		msg, mok := r.str()
		res, rok := r.bin()
		if !cok || code < math.MinInt || code > math.MaxInt || !mok || !rok || r.i != len(body) {
			return nil, nil, false
		}
		return nil, &Reply{ID: id, Code: Code(code), Msg: msg, Result: res}, true
	}
	return nil, nil, false
}

// decodeEventQuick is decodeQuick for an event.
func decodeEventQuick(body []byte) (*Event, bool) {
	r := quick{b: body}
	if r.byte() != 0x95 {
		return nil, false
	}
	kind, kok := r.uint()
	seq, sok := r.uint()
	typ, tok := r.uint()
	ts, tsok := r.int()
	payload, pok := r.bin()
	if !kok || kind != kindEvent || !sok || !tok || typ > math.MaxUint32 || !tsok || !pok || r.i != len(body) {
		return nil, false
	}
	return &Event{Seq: seq, Type: uint32(typ), Timestamp: ts, Payload: payload}, true
}

// quick reads msgpack values from b; a false ok means "not the usual form".
type quick struct {
	b []byte
	i int
}

func (r *quick) byte() byte {
	if r.i >= len(r.b) {
		return 0xc1 // never used by msgpack: fails every check
	}
	c := r.b[r.i]
	r.i++
	return c
}

// take returns the next n bytes.
func (r *quick) take(n int) ([]byte, bool) {
	if n < 0 || len(r.b)-r.i < n {
		return nil, false
	}
	p := r.b[r.i : r.i+n]
	r.i += n
	return p, true
}

// uint reads a non-negative integer in any format.
func (r *quick) uint() (uint64, bool) {
	c := r.byte()
	if c <= 0x7f {
		return uint64(c), true
	}
	if c < 0xcc || c > 0xcf {
		return 0, false
	}
	p, ok := r.take(1 << (c - 0xcc))
	return be(p), ok
}

// int reads an integer that fits int64, in any format.
func (r *quick) int() (int64, bool) {
	c := r.byte()
	switch {
	case c <= 0x7f || c >= 0xe0:
		return int64(int8(c)), true
	case c >= 0xcc && c <= 0xcf:
		p, ok := r.take(1 << (c - 0xcc))
		v := be(p)
		return int64(v), ok && v <= math.MaxInt64
	case c >= 0xd0 && c <= 0xd3:
		n := 1 << (c - 0xd0)
		p, ok := r.take(n)
		shift := 64 - 8*n
		return int64(be(p)<<shift) >> shift, ok // sign-extend
	}
	return 0, false
}

// str reads a str-format string.
func (r *quick) str() (string, bool) {
	c := r.byte()
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9, c == 0xda, c == 0xdb:
		p, ok := r.take(1 << (c - 0xd9))
		if !ok {
			return "", false
		}
		n = int(be(p))
	default:
		return "", false
	}
	p, ok := r.take(n)
	return string(p), ok
}

// bin reads bin as a copy, or nil as nil.
func (r *quick) bin() ([]byte, bool) {
	c := r.byte()
	if c == 0xc0 {
		return nil, true
	}
	if c < 0xc4 || c > 0xc6 {
		return nil, false
	}
	p, ok := r.take(1 << (c - 0xc4))
	if !ok {
		return nil, false
	}
	p, ok = r.take(int(be(p)))
	if !ok {
		return nil, false
	}
	return append(make([]byte, 0, len(p)), p...), true
}

// be is a big-endian unsigned integer of 1, 2, 4 or 8 bytes.
func be(p []byte) uint64 {
	switch len(p) {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(p))
	case 4:
		return uint64(binary.BigEndian.Uint32(p))
	case 8:
		return binary.BigEndian.Uint64(p)
	}
	return 0
}
