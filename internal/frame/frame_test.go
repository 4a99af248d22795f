package frame

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func enc(t testing.TB, f func(*bytes.Buffer, *msgpack.Encoder) ([]byte, error)) []byte {
	var buf bytes.Buffer
	b, err := f(&buf, msgpack.NewEncoder(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), b[LenPrefix:]...)
}

func TestRoundTrips(t *testing.T) {
	req := &Request{ID: 1 << 40, Method: "send_order", Deadline: -5, Args: []byte{1, 2, 3}}
	q, p, err := Decode(enc(t, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) { return EncodeRequest(b, e, req) }))
	if err != nil || p != nil || !reflect.DeepEqual(q, req) {
		t.Fatalf("request: %+v %+v %v", q, p, err)
	}
	rep := &Reply{ID: 7, Code: CodeApp, Msg: "no", Result: []byte{}}
	q, p, err = Decode(enc(t, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) { return EncodeReply(b, e, rep) }))
	if err != nil || q != nil || p.ID != 7 || p.Code != CodeApp || p.Msg != "no" {
		t.Fatalf("reply: %+v %+v %v", q, p, err)
	}
	ev := &Event{Seq: 9, Type: 3, Timestamp: 123, Payload: []byte("tick")}
	got, err := DecodeEvent(enc(t, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) { return EncodeEvent(b, e, ev) }))
	if err != nil || !reflect.DeepEqual(got, ev) {
		t.Fatalf("event: %+v %v", got, err)
	}
	if _, err := DecodeEvent(enc(t, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) { return EncodeRequest(b, e, req) })); !errors.Is(err, ErrMalformed) {
		t.Errorf("a request decoded as an event: %v", err)
	}
}

// FuzzDecode: any bytes decode to a request, a reply or an event that
// re-encodes to itself, or fail with ErrMalformed; nothing panics.
func FuzzDecode(f *testing.F) {
	f.Add(enc(f, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) {
		return EncodeRequest(b, e, &Request{ID: 1, Method: "m", Deadline: 2, Args: []byte{3}})
	}))
	f.Add(enc(f, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) {
		return EncodeReply(b, e, &Reply{ID: 1, Code: 5, Msg: "x"})
	}))
	f.Add(enc(f, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) {
		return EncodeEvent(b, e, &Event{Seq: 1, Type: 2, Timestamp: 3, Payload: []byte{4}})
	}))
	f.Add([]byte{0x95, 0x02, 0xcf})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, p, err := Decode(b)
		switch {
		case err != nil:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: %v", err)
			}
		case q != nil:
			again, _, err := Decode(enc(t, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) { return EncodeRequest(b, e, q) }))
			if err != nil || !reflect.DeepEqual(again, q) {
				t.Fatalf("request round trip: %+v vs %+v (%v)", again, q, err)
			}
		case p != nil:
			_, again, err := Decode(enc(t, func(b *bytes.Buffer, e *msgpack.Encoder) ([]byte, error) { return EncodeReply(b, e, p) }))
			if err != nil || again.ID != p.ID || again.Code != p.Code || again.Msg != p.Msg || !bytes.Equal(again.Result, p.Result) {
				t.Fatalf("reply round trip: %+v vs %+v (%v)", again, p, err)
			}
		default:
			t.Fatal("Decode returned nothing and no error")
		}
		e, err := DecodeEvent(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeEvent: %v", err)
			}
			return
		}
		again, err := DecodeEvent(enc(t, func(b *bytes.Buffer, m *msgpack.Encoder) ([]byte, error) { return EncodeEvent(b, m, e) }))
		if err != nil || again.Seq != e.Seq || again.Type != e.Type || again.Timestamp != e.Timestamp || !bytes.Equal(again.Payload, e.Payload) {
			t.Fatalf("event round trip: %+v vs %+v (%v)", again, e, err)
		}
	})
}
