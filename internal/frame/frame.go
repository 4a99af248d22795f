// Package frame is the call protocol's message codec, shared by the
// transports (uds over a unix socket, lan over ZeroMQ): requests and
// replies as msgpack arrays, the reply codes and the remote error type.
// docs/protocol.md specifies the format.
package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
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

// appendFrame encodes one message with enc into buf after a LenPrefix
// length prefix, and fills the prefix in. Message-based transports send
// b[LenPrefix:].
func appendFrame(buf *bytes.Buffer, enc *msgpack.Encoder, body func(*msgpack.Encoder) error) ([]byte, error) {
	buf.Reset()
	buf.Write(make([]byte, LenPrefix))
	enc.Reset(buf)
	if err := body(enc); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b, uint32(len(b)-LenPrefix))
	return b, nil
}

// EncodeRequest encodes r, length prefix included, into buf (reused).
func EncodeRequest(buf *bytes.Buffer, enc *msgpack.Encoder, r *Request) ([]byte, error) {
	return appendFrame(buf, enc, func(e *msgpack.Encoder) error {
		return errors.Join(e.EncodeArrayLen(5), e.EncodeUint8(kindRequest), e.EncodeUint64(r.ID),
			e.EncodeString(r.Method), e.EncodeInt64(r.Deadline), e.EncodeBytes(r.Args))
	})
}

// EncodeReply encodes r, length prefix included, into buf (reused).
func EncodeReply(buf *bytes.Buffer, enc *msgpack.Encoder, r *Reply) ([]byte, error) {
	return appendFrame(buf, enc, func(e *msgpack.Encoder) error {
		return errors.Join(e.EncodeArrayLen(5), e.EncodeUint8(kindReply), e.EncodeUint64(r.ID),
			e.EncodeInt(int64(r.Code)), e.EncodeString(r.Msg), e.EncodeBytes(r.Result))
	})
}

// Decode decodes one message (without its length prefix) as a request
// or a reply: exactly one of the results is non-nil. Args and Result are
// copies. Every failure wraps ErrMalformed.
func Decode(body []byte) (*Request, *Reply, error) {
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

// EncodeEvent encodes e, length prefix included, into buf (reused).
func EncodeEvent(buf *bytes.Buffer, enc *msgpack.Encoder, e *Event) ([]byte, error) {
	return appendFrame(buf, enc, func(m *msgpack.Encoder) error {
		return errors.Join(m.EncodeArrayLen(5), m.EncodeUint8(kindEvent), m.EncodeUint64(e.Seq),
			m.EncodeUint32(e.Type), m.EncodeInt64(e.Timestamp), m.EncodeBytes(e.Payload))
	})
}

// DecodeEvent decodes one event message (without its length prefix).
// Every failure wraps ErrMalformed.
func DecodeEvent(body []byte) (*Event, error) {
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
