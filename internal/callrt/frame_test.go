package callrt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/internal/mp"
)

// body is a frame without its length prefix, as the decoders take it.
func body(b []byte) []byte { return b[LenPrefix:] }

func TestRoundTrips(t *testing.T) {
	req := &Request{ID: 1 << 40, Method: "send_order", Timeout: 5 * time.Second, Sent: -7, Args: []byte{1, 2, 3}}
	before := time.Now()
	q, p, err := Decode(body(AppendRequest(nil, req)))
	if err != nil || p != nil || q.Deadline.Before(before.Add(req.Timeout)) || q.Deadline.After(time.Now().Add(req.Timeout)) {
		t.Fatalf("request: %+v %+v %v", q, p, err)
	}
	if q.Deadline, q.arrived = (time.Time{}), 0; !reflect.DeepEqual(q, req) {
		t.Fatalf("request: %+v, want %+v", q, req)
	}
	rep := &Reply{ID: 7, Code: calls.CodeApp, Msg: "no", Result: []byte{}}
	q, p, err = Decode(body(AppendReply(nil, rep)))
	if err != nil || q != nil || p.ID != 7 || p.Code != calls.CodeApp || p.Msg != "no" {
		t.Fatalf("reply: %+v %+v %v", q, p, err)
	}
	ev := &Event{Seq: 9, Type: 3, Timestamp: 123, Payload: []byte("tick")}
	got, err := DecodeEvent(body(AppendEvent(nil, ev)))
	if err != nil || !reflect.DeepEqual(got, ev) {
		t.Fatalf("event: %+v %v", got, err)
	}
	if _, err := DecodeEvent(body(AppendRequest(nil, req))); !errors.Is(err, calls.ErrMalformed) {
		t.Errorf("a request decoded as an event: %v", err)
	}
}

// FuzzDecode: any bytes decode to a request, a reply or an event that
// re-encodes to itself, or fail with ErrMalformed; nothing panics.
func FuzzDecode(f *testing.F) {
	f.Add(body(AppendRequest(nil, &Request{ID: 1, Method: "m", Timeout: 2, Args: []byte{3}})))
	f.Add(body(AppendReply(nil, &Reply{ID: 1, Code: 5, Msg: "x"})))
	f.Add(body(AppendEvent(nil, &Event{Seq: 1, Type: 2, Timestamp: 3, Payload: []byte{4}})))
	f.Add([]byte{0x95, 0x02, 0xcf})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, p, err := Decode(b)
		switch {
		case err != nil:
			if !errors.Is(err, calls.ErrMalformed) {
				t.Fatalf("Decode: %v", err)
			}
		case q != nil:
			if id, ok := RequestID(b); !ok || id != q.ID {
				t.Fatalf("RequestID: %d %v, Decode read id %d", id, ok, q.ID)
			}
			again, _, err := Decode(body(AppendRequest(nil, q)))
			if err == nil {
				again.Deadline, q.Deadline, again.arrived, q.arrived = time.Time{}, time.Time{}, 0, 0
			}
			if err != nil || !reflect.DeepEqual(again, q) {
				t.Fatalf("request round trip: %+v vs %+v (%v)", again, q, err)
			}
		case p != nil:
			_, again, err := Decode(body(AppendReply(nil, p)))
			if err != nil || again.ID != p.ID || again.Code != p.Code || again.Msg != p.Msg || !bytes.Equal(again.Result, p.Result) {
				t.Fatalf("reply round trip: %+v vs %+v (%v)", again, p, err)
			}
		default:
			t.Fatal("Decode returned nothing and no error")
		}
		e, err := DecodeEvent(b)
		if err != nil {
			if !errors.Is(err, calls.ErrMalformed) {
				t.Fatalf("DecodeEvent: %v", err)
			}
			return
		}
		again, err := DecodeEvent(body(AppendEvent(nil, e)))
		if err != nil || again.Seq != e.Seq || again.Type != e.Type || again.Timestamp != e.Timestamp || !bytes.Equal(again.Payload, e.Payload) {
			t.Fatalf("event round trip: %+v vs %+v (%v)", again, e, err)
		}
	})
}

// The hand-written encoders write what msgpack/v5's Encoder writes for the
// same calls (the format of docs/protocol.md), at every length boundary.
func TestAppendIsMsgpack(t *testing.T) {
	ref := func(f func(e *msgpack.Encoder) error) []byte {
		var buf bytes.Buffer
		if err := f(msgpack.NewEncoder(&buf)); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		str, bin := strings.Repeat("m", n), bytes.Repeat([]byte{7}, n)
		for _, code := range []int64{0, 127, 128, 255, 256, 65535, 65536, 1 << 32, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, math.MinInt64, math.MaxInt64} {
			req := &Request{ID: uint64(n) << 40, Method: str, Timeout: time.Duration(max(code, 0)), Sent: code, Args: bin}
			want := ref(func(e *msgpack.Encoder) error {
				return errors.Join(e.EncodeArrayLen(6), e.EncodeUint8(kindRequest), e.EncodeUint64(req.ID),
					e.EncodeString(req.Method), e.EncodeUint64(uint64(req.Timeout)), e.EncodeInt64(req.Sent), e.EncodeBytes(req.Args))
			})
			if got := body(AppendRequest(nil, req)); !bytes.Equal(got, want) {
				t.Fatalf("request n=%d timeout=%d:\n got % x\nwant % x", n, code, got[:min(len(got), 40)], want[:min(len(want), 40)])
			}
			for _, res := range [][]byte{nil, bin} {
				rep := &Reply{ID: 9, Code: calls.Code(code), Msg: str, Result: res}
				want = ref(func(e *msgpack.Encoder) error {
					return errors.Join(e.EncodeArrayLen(5), e.EncodeUint8(kindReply), e.EncodeUint64(rep.ID),
						e.EncodeInt(int64(rep.Code)), e.EncodeString(rep.Msg), e.EncodeBytes(rep.Result))
				})
				if got := body(AppendReply(nil, rep)); !bytes.Equal(got, want) {
					t.Fatalf("reply n=%d code=%d:\n got % x\nwant % x", n, code, got[:min(len(got), 40)], want[:min(len(want), 40)])
				}
			}
			ev := &Event{Seq: uint64(code), Type: uint32(n), Timestamp: code, Payload: bin}
			want = ref(func(e *msgpack.Encoder) error {
				return errors.Join(e.EncodeArrayLen(5), e.EncodeUint8(kindEvent), e.EncodeUint64(ev.Seq),
					e.EncodeUint32(ev.Type), e.EncodeInt64(ev.Timestamp), e.EncodeBytes(ev.Payload))
			})
			if got := body(AppendEvent(nil, ev)); !bytes.Equal(got, want) {
				t.Fatalf("event n=%d:\n got % x\nwant % x", n, got[:min(len(got), 40)], want[:min(len(want), 40)])
			}
		}
	}
	// Frames append: two in one buffer, each with its own prefix.
	b := AppendReply(AppendRequest(nil, &Request{ID: 1, Method: "a"}), &Reply{ID: 2})
	n := int(binary.LittleEndian.Uint32(b))
	if q, _, err := Decode(b[LenPrefix : LenPrefix+n]); err != nil || q.ID != 1 {
		t.Fatalf("first frame: %+v %v", q, err)
	}
	if _, p, err := Decode(b[2*LenPrefix+n:]); err != nil || p.ID != 2 {
		t.Fatalf("second frame: %+v %v", p, err)
	}
}

// FuzzMsgpackForms: every message msgpack's own Decoder reads as a
// request, reply or event (what a Python or other client may write:
// short integer forms, strings as bin, payloads as str or nil), Decode
// and DecodeEvent read too, to the same values.
func FuzzMsgpackForms(f *testing.F) {
	f.Add(body(AppendRequest(nil, &Request{ID: 1, Method: "send_order", Timeout: 2, Args: []byte{}})))
	f.Add([]byte("\x96\x00\xff\xa1m\x00\x00\xc4\x00"))                                 // a negative id
	f.Add([]byte("\x96\x00\x01\xa1m\xc0\x00\xc4\x00"))                                 // a nil timeout
	f.Add([]byte("\x96\x00\x01\xa1m\x00\xc0\xc4\x00"))                                 // a nil sent
	f.Add([]byte("\x96\x00\x01\xa1m\xcf\xff\xff\xff\xff\xff\xff\xff\xff\x00\xc4\x00")) // timeout 2^64-1: none
	f.Add(body(AppendReply(nil, &Reply{ID: 1 << 60, Code: -1000, Msg: "x", Result: []byte{1, 2}})))
	f.Add(body(AppendEvent(nil, &Event{Seq: 1, Type: 2, Timestamp: 3, Payload: nil})))
	f.Add([]byte("\x96\x00\x01\xa1m\x05\xd0\xff\xc4\x00"))                    // short forms, as Python's msgpack writes them
	f.Add([]byte("\x95\x01\x01\x00\xa0\xc0"))                                 // a reply with a nil result
	f.Add([]byte("\x96\x00\x01\xc4\x01m\x00\x00\xa1x"))                       // method as bin, args as str
	f.Add([]byte("\xdc\x00\x06\x00\x01\xa1m\x00\x00\xc4\x00"))                // an array16 header
	f.Add([]byte("\x95\x02\x01\xcf\x00\x00\x00\x01\x00\x00\x00\x00\x00\xc0")) // event type > uint32
	f.Fuzz(func(t *testing.T, b []byte) {
		if q, p, err := referenceDecode(b); err == nil {
			q2, p2, err2 := Decode(b)
			if q2 != nil {
				q2.Deadline, q2.arrived = time.Time{}, 0
			}
			if err2 != nil || !reflect.DeepEqual(q, q2) || !reflect.DeepEqual(p, p2) {
				t.Fatalf("msgpack reads %+v %+v; Decode: %+v %+v %v", q, p, q2, p2, err2)
			}
		}
		if e, err := referenceDecodeEvent(b); err == nil {
			e2, err2 := DecodeEvent(b)
			if err2 != nil || !reflect.DeepEqual(e, e2) {
				t.Fatalf("msgpack reads %+v; DecodeEvent: %+v %v", e, e2, err2)
			}
		}
	})
}

// strictUint reads a non-negative integer, not nil, with msgpack's
// Decoder (whose DecodeUint64 would take nil as 0 and wrap a negative).
func strictUint(d *msgpack.Decoder) (uint64, error) {
	v, err := d.DecodeInterfaceLoose()
	switch x := v.(type) {
	case uint64:
		return x, err
	case int64:
		if x >= 0 {
			return uint64(x), err
		}
	}
	return 0, errors.Join(err, fmt.Errorf("not a non-negative integer: %#v", v))
}

// referenceDecode reads a request or reply with msgpack's Decoder.
func referenceDecode(body []byte) (*Request, *Reply, error) {
	if err := mp.Bounded(body); err != nil {
		return nil, nil, err
	}
	d := msgpack.NewDecoder(bytes.NewReader(body))
	n, err := d.DecodeArrayLen()
	if err != nil {
		return nil, nil, err
	}
	kind, err1 := strictUint(d) // msgpack's DecodeUint8 would truncate 256 to 0
	id, err2 := strictUint(d)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, err
	}
	if (kind == kindRequest) != (n == 6) || n != 5 && n != 6 {
		return nil, nil, errors.New("a request is a 6-element array, anything else a 5-element one")
	}
	rest := func() error {
		if d.Buffered().(*bytes.Reader).Len() != 0 {
			return errors.New("trailing bytes")
		}
		return nil
	}
	switch kind {
	case kindRequest:
		r := &Request{ID: id}
		var e1, e2, e3 error
		var timeout uint64
		r.Method, e1 = d.DecodeString()
		timeout, e2 = strictUint(d)
		sent, e4 := d.DecodeInterfaceLoose()
		switch x := sent.(type) {
		case int64:
			r.Sent = x
		case uint64:
			if x > math.MaxInt64 {
				e4 = errors.New("sent out of range")
			}
			r.Sent = int64(x)
		default:
			e4 = errors.Join(e4, errors.New("sent is not an integer"))
		}
		r.Args, e3 = d.DecodeBytes()
		if err := errors.Join(e1, e2, e3, e4, rest()); err != nil {
			return nil, nil, err
		}
		if timeout <= math.MaxInt64 {
			r.Timeout = time.Duration(timeout)
		}
		return r, nil, nil
	case kindReply:
		r := &Reply{ID: id}
		code, e1 := d.DecodeInt()
		var e2, e3 error
		r.Code = calls.Code(code)
		r.Msg, e2 = d.DecodeString()
		r.Result, e3 = d.DecodeBytes()
		if err := errors.Join(e1, e2, e3, rest()); err != nil {
			return nil, nil, err
		}
		return nil, r, nil
	}
	return nil, nil, errors.New("kind")
}

// referenceDecodeEvent reads an event with msgpack's Decoder.
func referenceDecodeEvent(body []byte) (*Event, error) {
	if err := mp.Bounded(body); err != nil {
		return nil, err
	}
	d := msgpack.NewDecoder(bytes.NewReader(body))
	n, err := d.DecodeArrayLen()
	if err != nil || n != 5 {
		return nil, errors.New("not a 5-element array")
	}
	kind, e0 := d.DecodeUint64()
	e := &Event{}
	var e1, e2, e3, e4 error
	e.Seq, e1 = d.DecodeUint64()
	typ, e2 := d.DecodeUint64() // DecodeUint32 would truncate a type past 32 bits
	e.Type = uint32(typ)
	e.Timestamp, e3 = d.DecodeInt64()
	e.Payload, e4 = d.DecodeBytes()
	if err := errors.Join(e0, e1, e2, e3, e4); err != nil || kind != kindEvent || typ > 1<<32-1 || d.Buffered().(*bytes.Reader).Len() != 0 {
		return nil, errors.New("not an event")
	}
	return e, nil
}

// BenchmarkRequestRoundTrip: a send_order request encoded by a client and
// decoded by the server.
func BenchmarkRequestRoundTrip(b *testing.B) {
	req := &Request{ID: 12345, Method: "send_order", Timeout: 5 * time.Second, Sent: 1 << 40, Args: make([]byte, 120)}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRequest(buf[:0], req)
		_, _, _ = Decode(buf[LenPrefix:])
	}
}

// A frame that declares a payload larger than itself is malformed, and
// costs no allocation of the declared size (msgpack's Decoder would make
// it before reading: 4 GiB for 20 bytes).
func TestDeclaredSizesAreChecked(t *testing.T) {
	for _, b := range [][]byte{
		[]byte("\x95\x02\x00\x00\x00\xc6\xff\xff\xff\xff\x00"),             // event, payload bin32
		[]byte("\xdc\x00\x05\x00\x01\xa1m\x00\xc6\xff\xff\xff\xff"),        // request as array16: the general path
		[]byte("\xdc\x00\x05\x01\x01\x00\xa0\xc6\xff\xff\xff\xff\x01\x02"), // reply as array16
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err1 := Decode(b)
		_, err2 := DecodeEvent(b)
		runtime.ReadMemStats(&after)
		if !errors.Is(err1, calls.ErrMalformed) || !errors.Is(err2, calls.ErrMalformed) {
			t.Errorf("% x: %v, %v", b, err1, err2)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("% x: decoding allocated %d bytes", b, n)
		}
	}
}
