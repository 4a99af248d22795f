package wire

import (
	"errors"
	"reflect"
	"testing"

	"github.com/vnrpc/vnrpc/engine"
)

// hot is the fast codec of one record type, for table tests.
type hot struct {
	name   string
	sample func() any
	fresh  func() any
	append func([]byte, any) ([]byte, error)
	decode func([]byte, any) error
	n      int
}

func hots() []hot {
	fillNew := func(v any) any { fill(reflect.ValueOf(v).Elem()); return v }
	return []hot{
		{"Tick", func() any { return fillNew(&engine.Tick{}) }, func() any { return &engine.Tick{} },
			func(b []byte, v any) ([]byte, error) { return AppendTick(b, v.(*engine.Tick)) },
			func(b []byte, v any) error { return DecodeTickFast(b, v.(*engine.Tick)) }, tickFields},
		{"Order", func() any { return fillNew(&engine.Order{}) }, func() any { return &engine.Order{} },
			func(b []byte, v any) ([]byte, error) { return AppendOrder(b, v.(*engine.Order)) },
			func(b []byte, v any) error { return DecodeOrderFast(b, v.(*engine.Order)) }, orderFields},
		{"Trade", func() any { return fillNew(&engine.Trade{}) }, func() any { return &engine.Trade{} },
			func(b []byte, v any) ([]byte, error) { return AppendTrade(b, v.(*engine.Trade)) },
			func(b []byte, v any) error { return DecodeTradeFast(b, v.(*engine.Trade)) }, tradeFields},
	}
}

// Every field round-trips through the positional form (fill gives each a
// distinct value), and the fast decoders read the map form too.
func TestFastRoundTrip(t *testing.T) {
	for _, h := range hots() {
		v := h.sample()
		b, err := h.append(nil, v)
		if err != nil {
			t.Fatalf("%s: %v", h.name, err)
		}
		back := h.fresh()
		if err := h.decode(b, back); err != nil {
			t.Fatalf("%s: %v", h.name, err)
		}
		if !reflect.DeepEqual(v, back) {
			t.Errorf("%s positional form does not round-trip:\n%+v\n%+v", h.name, v, back)
		}
		m, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		back = h.fresh()
		if err := h.decode(m, back); err != nil || !reflect.DeepEqual(v, back) {
			t.Errorf("%s map form through the fast decoder: %v\n%+v\n%+v", h.name, err, v, back)
		}
		// Decoding into a used value overwrites every field.
		used := h.sample()
		z, _ := h.append(nil, h.fresh())
		if err := h.decode(z, used); err != nil || !reflect.DeepEqual(used, h.fresh()) {
			t.Errorf("%s: zero record into a used value: %v %+v", h.name, err, used)
		}
	}
}

// A shorter array (an older writer) leaves the missing fields zero; a
// longer one (a newer writer) has its extra elements skipped.
func TestFastArrayEvolution(t *testing.T) {
	for _, h := range hots() {
		full, _ := h.append(nil, h.sample())
		// Three fields: rebuild the header and keep the first 3 elements.
		r := reader{b: full}
		r.header()
		start := r.pos
		for range 3 {
			r.skip()
		}
		short := append([]byte{0x93}, full[start:r.pos]...)
		v := h.sample()
		if err := h.decode(short, v); err != nil {
			t.Fatalf("%s short: %v", h.name, err)
		}
		want := h.fresh()
		if err := h.decode(short[:1+0], want); err == nil { // header says 3, no elements
			t.Fatalf("%s: a truncated array decoded", h.name)
		}
		rv, wv := reflect.ValueOf(v).Elem(), reflect.ValueOf(h.sample()).Elem()
		for i := range rv.NumField() {
			got, full := rv.Field(i).Interface(), wv.Field(i).Interface()
			if i < 3 && !reflect.DeepEqual(got, full) || i >= 3 && !rv.Field(i).IsZero() {
				t.Errorf("%s field %d after a 3-element array: %v", h.name, i, got)
			}
		}
		// One extra element of each kind at the end.
		extra := append([]byte(nil), full...)
		if h.n < 15 {
			extra[0]++ // fixarray count
		} else {
			extra[2]++ // array16 count
		}
		extra = append(extra, 0x92, 0xa1, 'x', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0)
		v = h.fresh()
		if err := h.decode(extra, v); err != nil || !reflect.DeepEqual(v, h.sample()) {
			t.Errorf("%s with an extra element: %v", h.name, err)
		}
	}
}

func TestFastMalformed(t *testing.T) {
	tick, _ := AppendTick(nil, &engine.Tick{Symbol: "rb2501", Exchange: engine.ExchangeSHFE})
	cases := map[string][]byte{
		"empty":          {},
		"not a record":   {0xa1, 'x'},
		"truncated":      tick[:len(tick)-3],
		"trailing bytes": append(append([]byte(nil), tick...), 0x01),
		"bad exchange":   append([]byte{0x93, 0xa0, 0xa0, 0xa3}, "XXX"...),
		"float as str":   {0x9f, 0xa0, 0xa0, 0xa0, 0xc0, 0xa0, 0xa1, 'x'},
	}
	for name, b := range cases {
		if err := DecodeTickFast(b, &engine.Tick{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := AppendOrder(nil, &engine.Order{Status: engine.Status(200)}); err == nil {
		t.Error("an invalid enum encoded")
	}
}

// FuzzDecodeFast: any bytes decode or fail with ErrMalformed, and what
// decodes re-encodes to a record that decodes the same.
func FuzzDecodeFast(f *testing.F) {
	for _, h := range hots() {
		b, _ := h.append(nil, h.sample())
		f.Add(b)
		m, _ := Marshal(h.sample())
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, h := range hots() {
			v := h.fresh()
			if err := h.decode(b, v); err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s: %v", h.name, err)
				}
				continue
			}
			again, err := h.append(nil, v)
			if err != nil {
				t.Fatalf("%s: re-encode: %v", h.name, err)
			}
			w := h.fresh()
			if err := h.decode(again, w); err != nil || (!hasNaN(v) && !reflect.DeepEqual(v, w)) {
				t.Fatalf("%s: unstable: %v\n%+v\n%+v", h.name, err, v, w)
			}
		}
	})
}

func sampleTick() *engine.Tick {
	t := &engine.Tick{}
	fill(reflect.ValueOf(t).Elem())
	return t
}

// BenchmarkTickFast: encode one tick and decode it into a reused value, as
// the service and a client do per tick (target: ≤ 400 ns, 0 allocs).
func BenchmarkTickFast(b *testing.B) {
	t := sampleTick()
	buf := make([]byte, 0, 512)
	var out engine.Tick
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendTick(buf[:0], t)
		if err := DecodeTickFast(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTickMap: the same with the map form (the generic codec).
func BenchmarkTickMap(b *testing.B) {
	t := sampleTick()
	var out engine.Tick
	b.ReportAllocs()
	for b.Loop() {
		buf, _ := Marshal(t)
		if err := Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOrderFast(b *testing.B) {
	o := &engine.Order{}
	fill(reflect.ValueOf(o).Elem())
	buf := make([]byte, 0, 256)
	var out engine.Order
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendOrder(buf[:0], o)
		if err := DecodeOrderFast(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSchemaDecoders: published records of every type, call arguments and
// result lists decode or fail with ErrMalformed; nothing panics.
func FuzzSchemaDecoders(f *testing.F) {
	for _, v := range samples() {
		if b, err := Marshal(v); err == nil {
			f.Add(uint8(0), b)
		}
	}
	args, _ := EncodeArgs(&engine.OrderRequest{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}, "SIM")
	f.Add(uint8(1), args)
	list, _ := EncodeList([]*engine.Order{{OrderID: "1"}, {OrderID: "2"}})
	f.Add(uint8(2), list)
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: %v", what, err)
			}
		}
		for _, typ := range []uint32{TypeTick, TypeOrder, TypeTrade, TypePosition, TypeAccount, TypeContract, TypeQuote,
			TypeLog, TypeRpcLog} {
			_, err := DecodeEvent(typ, b)
			check("event", err)
		}
		_, _ = DecodeEvent(TypeOther, b) // generic msgpack: any error will do, but no panic
		var req engine.OrderRequest
		var gw string
		check("args", DecodeArgs(b, &req, &gw))
		_, err := DecodeList[engine.Order](b)
		check("list", err)
		_, err = DecodeOne[engine.Trade](b)
		check("one", err)
		_ = which
	})
}
