// Package callrt is the call runtime that vnrpc's transports (uds over a
// unix socket, lan over ZeroMQ) share: the frames of the call protocol and
// their codec, the client's table of calls in flight (Pending) and its
// leader/follower reader role (Role), and the server's one path from a
// decoded request to its reply (Exec). The public vocabulary (codes,
// errors, Handler, Mux, Peer) is package calls; docs/protocol.md
// specifies the frames.
package callrt

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/internal/mp"
)

// A message is a msgpack array whose first element is its kind. On a
// stream (uds) each message is preceded by a 4-byte little-endian length;
// on ZeroMQ (lan) each message is one frame.
//
//	request: [0, id uint64, method string, timeout uint64, sent int64, args bin]
//	reply:   [1, id uint64, code int, message string, result bin]
//	event:   [2, seq uint64, type uint32, timestamp int64, payload bin]
//
// timeout is the nanoseconds the caller waits for the reply from when it
// sends the request (0, or 2^63 and more: no limit), and sent the
// caller's monotonic clock then (0: not given). The server's deadline is
// when it read the request plus timeout, by its own clock, less the time
// the request took to arrive beyond the connection's usual (Transit), so
// no wall clock crosses the wire and a request that waited in buffers
// (behind a stopped server, say) is not given that time again. code is 0 for success, else one
// of the calls.Code values. These are part of the wire format (see
// docs/protocol.md); change them only with a protocol version bump.
const (
	kindRequest = 0
	kindReply   = 1
	kindEvent   = 2
	// LenPrefix is the size of a stream frame's length prefix.
	LenPrefix = 4
)

// Request is a request frame.
type Request struct {
	ID     uint64
	Method string
	// Timeout is how long the caller waits for the reply, from when it
	// sends the request; 0: no limit. It is what travels.
	Timeout time.Duration
	// Sent is the caller's monotonic clock when it sent the request, in
	// ns from any origin it keeps for the connection (Now); 0: not given.
	Sent int64
	// Deadline is when the caller gives up, by this host's clock: Decode
	// sets it to the time of decoding plus Timeout (zero: none), and
	// Transit.Observe brings it forward by the request's delay on the
	// way. The server never starts a request after it.
	Deadline time.Time
	Args     []byte

	arrived int64 // Now when Decode ran
}

// Reply is a decoded reply frame.
type Reply struct {
	ID     uint64
	Code   calls.Code
	Msg    string
	Result []byte
}

// Event is one published record: the ring's sequence number, type and
// CLOCK_MONOTONIC timestamp, and the payload.
type Event struct {
	Seq       uint64
	Type      uint32
	Timestamp int64
	Payload   []byte
}

// AppendRequest appends r as a stream frame, length prefix included, to
// b. Message-based transports send the frame from LenPrefix on. The bytes
// are what msgpack/v5's Encoder writes for the same calls (fixed-width
// integers), written by hand: no encoder, no allocation.
func AppendRequest(b []byte, r *Request) []byte {
	b, at := begin(b, kindRequest, r.ID)
	b = mp.AppendStr(b, r.Method)
	b = mp.AppendUint64(b, uint64(max(r.Timeout, 0)))
	b = mp.AppendInt64(b, r.Sent)
	return end(mp.AppendBin(b, r.Args), at)
}

// AppendReply appends r as a stream frame (see AppendRequest).
func AppendReply(b []byte, r *Reply) []byte {
	b, at := begin(b, kindReply, r.ID)
	b = mp.AppendInt(b, int64(r.Code))
	b = mp.AppendStr(b, r.Msg)
	return end(mp.AppendBin(b, r.Result), at)
}

// AppendReplyLimited is AppendReply for a server: a reply whose body would
// exceed limit (its client would drop the connection for it) is replaced
// by a CodeInternal error reply saying so. The method has run.
func AppendReplyLimited(b []byte, r *Reply, limit int) []byte {
	at := len(b)
	b = AppendReply(b, r)
	if len(b)-at-LenPrefix > limit {
		b = AppendReply(b[:at], &Reply{ID: r.ID, Code: calls.CodeInternal,
			Msg: fmt.Sprintf("result of %d bytes exceeds the reply limit %d", len(r.Result), limit)})
	}
	return b
}

// AppendEvent appends e as a stream frame (see AppendRequest).
func AppendEvent(b []byte, e *Event) []byte {
	b, at := begin(b, kindEvent, e.Seq)
	b = binary.BigEndian.AppendUint32(append(b, 0xce), e.Type)
	b = mp.AppendInt64(b, e.Timestamp)
	return end(mp.AppendBin(b, e.Payload), at)
}

// Reuse returns b emptied for the next frames, or nil once it has grown
// past 1 MiB: a write buffer would keep a burst's memory otherwise.
func Reuse(b []byte) []byte {
	if cap(b) > 1<<20 {
		return nil
	}
	return b[:0]
}

// begin appends a length prefix to fill in, and a message's first fields:
// [kind uint8, id uint64, …], of 6 elements for a request and 5 for the
// others.
func begin(b []byte, kind byte, id uint64) ([]byte, int) {
	at := len(b)
	b = append(b, 0, 0, 0, 0, 0x90|byte(elements(uint64(kind))), 0xcc, kind)
	return mp.AppendUint64(b, id), at
}

// elements is the length of a message of kind.
func elements(kind uint64) int {
	if kind == kindRequest {
		return 6
	}
	return 5
}

// end fills in the length prefix of the frame that starts at b[at].
func end(b []byte, at int) []byte {
	binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-LenPrefix))
	return b
}

// Decode decodes one message (without its length prefix) as a request or
// a reply: exactly one of the results is non-nil. Integers may come in any
// msgpack integer format, strings as str or bin, payloads as bin, str or
// nil, as any msgpack library writes them; the kind, id and timeout are
// non-negative integers (not nil). Args and Result are copies. A
// request's Deadline is now plus its Timeout: decode it as it arrives.
// Every failure wraps calls.ErrMalformed.
func Decode(body []byte) (*Request, *Reply, error) {
	r := mp.NewReader(body, calls.ErrMalformed, "frame")
	n := r.ArrayLen()
	kind, id := r.UintStrict(), r.UintStrict()
	if r.Err == nil && n != elements(kind) {
		r.Fail(fmt.Sprintf("a message of kind %d is a %d-element array, not %d", kind, elements(kind), n))
	}
	switch {
	case r.Err != nil:
		return nil, nil, r.Err
	case kind == kindRequest:
		q := &Request{ID: id, Method: string(r.StrBytes())}
		timeout := r.UintStrict()
		q.Sent = r.IntStrict()
		q.Args = r.Bin()
		if err := r.End(); err != nil {
			return nil, nil, err
		}
		now := time.Now()
		q.arrived = int64(now.Sub(clockBase))
		if timeout != 0 && timeout <= math.MaxInt64 {
			q.Timeout = time.Duration(timeout)
			q.Deadline = now.Add(q.Timeout)
		}
		return q, nil, nil
	case kind == kindReply:
		code := r.Int()
		p := &Reply{ID: id, Code: calls.Code(code), Msg: string(r.StrBytes()), Result: r.Bin()}
		if r.Err == nil && int64(int(code)) != code {
			r.Fail("reply code out of range")
		}
		if err := r.End(); err != nil {
			return nil, nil, err
		}
		return nil, p, nil
	}
	r.Fail(fmt.Sprintf("unknown frame kind %d", kind))
	return nil, nil, r.Err
}

// RequestID reads the id of a request that Decode refused, so that the
// server can answer it (CodeBadRequest) instead of leaving its caller to
// wait: ok when body begins as a request does, [0, id, …], with a
// well-formed id.
func RequestID(body []byte) (id uint64, ok bool) {
	r := mp.NewReader(body, calls.ErrMalformed, "frame")
	n := r.ArrayLen()
	kind := r.UintStrict()
	id = r.UintStrict()
	return id, r.Err == nil && n == elements(kindRequest) && kind == kindRequest
}

// DecodeEvent decodes one event message (without its length prefix).
// Every failure wraps calls.ErrMalformed.
func DecodeEvent(body []byte) (*Event, error) {
	r := mp.NewReader(body, calls.ErrMalformed, "event")
	if n := r.ArrayLen(); r.Err == nil && n != 5 {
		r.Fail(fmt.Sprintf("an event is a 5-element array, not %d", n))
	}
	if kind := r.Uint(); r.Err == nil && kind != kindEvent {
		r.Fail(fmt.Sprintf("kind %d is not an event", kind))
	}
	e := &Event{Seq: r.Uint()}
	typ := r.Uint()
	if r.Err == nil && typ > 1<<32-1 {
		r.Fail("event type out of range")
	}
	e.Type, e.Timestamp, e.Payload = uint32(typ), r.Int(), r.Bin()
	if err := r.End(); err != nil {
		return nil, err
	}
	return e, nil
}
