// Package frame is the call protocol's message codec, shared by the
// transports (uds over a unix socket, lan over ZeroMQ): requests and
// replies as msgpack arrays, the reply codes and the remote error type.
// docs/protocol.md specifies the format.
package frame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/internal/mp"
)

// A message is a msgpack array whose first element is its kind. On a
// stream (uds) each message is preceded by a 4-byte little-endian length;
// on ZeroMQ (lan) each message is one frame.
//
//	request: [0, id uint64, method string, deadline int64, args bin]
//	reply:   [1, id uint64, code int, message string, result bin]
//
// deadline is Unix nanoseconds (0: none). code is 0 for success, else one
// of the Code constants. These are part of the wire format (see
// docs/protocol.md); change them only with a protocol version bump.
const (
	kindRequest = 0
	kindReply   = 1

	// LenPrefix is the size of a stream frame's length prefix.
	LenPrefix = 4
)

// Request is a decoded request frame.
type Request struct {
	ID       uint64
	Method   string
	Deadline int64 // Unix ns; 0 means none
	Args     []byte
}

// Reply is a decoded reply frame.
type Reply struct {
	ID     uint64
	Code   Code
	Msg    string
	Result []byte
}

// AppendRequest appends r as a stream frame, length prefix included, to
// b. Message-based transports send the frame from LenPrefix on. The bytes
// are what msgpack/v5's Encoder writes for the same calls (fixed-width
// integers), written by hand: no encoder, no allocation.
func AppendRequest(b []byte, r *Request) []byte {
	b, at := begin(b, kindRequest, r.ID)
	b = mp.AppendStr(b, r.Method)
	b = binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(r.Deadline))
	return end(mp.AppendBin(b, r.Args), at)
}

// Reuse returns b emptied for the next frames, or nil once it has grown
// past 1 MiB: a write buffer keeps a burst's memory otherwise.
func Reuse(b []byte) []byte {
	if cap(b) > 1<<20 {
		return nil
	}
	return b[:0]
}

// AppendReply appends r as a stream frame (see AppendRequest).
func AppendReply(b []byte, r *Reply) []byte {
	b, at := begin(b, kindReply, r.ID)
	b = appendInt(b, int64(r.Code))
	b = mp.AppendStr(b, r.Msg)
	return end(mp.AppendBin(b, r.Result), at)
}

// begin appends a length prefix to fill in, and a message's first fields:
// [kind uint8, id uint64, …] of 5 elements.
func begin(b []byte, kind byte, id uint64) ([]byte, int) {
	at := len(b)
	b = append(b, 0, 0, 0, 0, 0x95, 0xcc, kind, 0xcf)
	return binary.BigEndian.AppendUint64(b, id), at
}

// end fills in the length prefix of the frame that starts at b[at].
func end(b []byte, at int) []byte {
	binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-LenPrefix))
	return b
}

// appendInt appends n in its shortest form, as msgpack's EncodeInt does.
func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= 127, n < 0 && n >= -32:
		return append(b, byte(n))
	case n >= 0 && n <= math.MaxUint8:
		return append(b, 0xcc, byte(n))
	case n >= 0 && n <= math.MaxUint16:
		return append(b, 0xcd, byte(n>>8), byte(n))
	case n >= 0 && n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= 0:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	case n >= math.MinInt8:
		return append(b, 0xd0, byte(n))
	case n >= math.MinInt16:
		return append(b, 0xd1, byte(n>>8), byte(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// Decode decodes one message (without its length prefix) as a request
// or a reply: exactly one of the results is non-nil. Args and Result are
// copies. Every failure wraps ErrMalformed.
func Decode(body []byte) (*Request, *Reply, error) {
	if q, p, ok := decodeQuick(body); ok {
		return q, p, nil
	}
	return decode(body)
}

// decode is Decode by msgpack's Decoder: it decides every input that
// decodeQuick passes on.
func decode(body []byte) (*Request, *Reply, error) {
	if err := mp.Bounded(body); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	d := msgpack.NewDecoder(bytes.NewReader(body))
	bad := func(what string, err error) error {
		if err == nil {
			return fmt.Errorf("%w: %s", ErrMalformed, what)
		}
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	n, err := d.DecodeArrayLen()
	if err != nil || n != 5 {
		return nil, nil, bad(fmt.Sprintf("frame is not a 5-element array (%d)", n), err)
	}
	kind, err := d.DecodeUint8()
	if err != nil {
		return nil, nil, bad("kind", err)
	}
	id, err := d.DecodeUint64()
	if err != nil {
		return nil, nil, bad("id", err)
	}
	switch kind {
	case kindRequest:
		r := &Request{ID: id}
		if r.Method, err = d.DecodeString(); err != nil {
			return nil, nil, bad("method", err)
		}
		if r.Deadline, err = d.DecodeInt64(); err != nil {
			return nil, nil, bad("deadline", err)
		}
		if r.Args, err = d.DecodeBytes(); err != nil {
			return nil, nil, bad("args", err)
		}
		if d.Buffered().(*bytes.Reader).Len() != 0 {
			return nil, nil, bad("trailing bytes", nil)
		}
		return r, nil, nil
	case kindReply:
		r := &Reply{ID: id}
		code, err := d.DecodeInt()
		if err != nil {
			return nil, nil, bad("code", err)
		}
		r.Code = Code(code)
		if r.Msg, err = d.DecodeString(); err != nil {
			return nil, nil, bad("message", err)
		}
		if r.Result, err = d.DecodeBytes(); err != nil {
			return nil, nil, bad("result", err)
		}
		if d.Buffered().(*bytes.Reader).Len() != 0 {
			return nil, nil, bad("trailing bytes", nil)
		}
		return nil, r, nil
	}
	return nil, nil, bad(fmt.Sprintf("unknown frame kind %d", kind), nil)
}

// Event is one published record: the ring's sequence number, type and
// CLOCK_MONOTONIC timestamp, and the payload. On ZeroMQ it travels as
// [2, seq, type, timestamp, payload].
type Event struct {
	Seq       uint64
	Type      uint32
	Timestamp int64
	Payload   []byte
}

const kindEvent = 2

// AppendEvent appends e as a stream frame (see AppendRequest).
func AppendEvent(b []byte, e *Event) []byte {
	b, at := begin(b, kindEvent, e.Seq)
	b = binary.BigEndian.AppendUint32(append(b, 0xce), e.Type)
	b = binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(e.Timestamp))
	return end(mp.AppendBin(b, e.Payload), at)
}

// DecodeEvent decodes one event message (without its length prefix).
// Every failure wraps ErrMalformed.
func DecodeEvent(body []byte) (*Event, error) {
	if e, ok := decodeEventQuick(body); ok {
		return e, nil
	}
	return decodeEvent(body)
}

// decodeEvent is DecodeEvent by msgpack's Decoder (see decode).
func decodeEvent(body []byte) (*Event, error) {
	if err := mp.Bounded(body); err != nil {
		return nil, fmt.Errorf("%w: event: %v", ErrMalformed, err)
	}
	d := msgpack.NewDecoder(bytes.NewReader(body))
	bad := func(what string, err error) error {
		if err == nil {
			return fmt.Errorf("%w: event %s", ErrMalformed, what)
		}
		return fmt.Errorf("%w: event %s: %v", ErrMalformed, what, err)
	}
	n, err := d.DecodeArrayLen()
	if err != nil || n != 5 {
		return nil, bad(fmt.Sprintf("is not a 5-element array (%d)", n), err)
	}
	kind, err := d.DecodeUint8()
	if err != nil || kind != kindEvent {
		return nil, bad(fmt.Sprintf("kind %d", kind), err)
	}
	e := &Event{}
	if e.Seq, err = d.DecodeUint64(); err != nil {
		return nil, bad("seq", err)
	}
	if e.Type, err = d.DecodeUint32(); err != nil {
		return nil, bad("type", err)
	}
	if e.Timestamp, err = d.DecodeInt64(); err != nil {
		return nil, bad("timestamp", err)
	}
	if e.Payload, err = d.DecodeBytes(); err != nil {
		return nil, bad("payload", err)
	}
	if d.Buffered().(*bytes.Reader).Len() != 0 {
		return nil, bad("trailing bytes", nil)
	}
	return e, nil
}
