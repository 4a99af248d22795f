package wire

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/internal/mp"
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
		r := mp.NewReader(full, ErrMalformed, h.name)
		r.ArrayLen()
		start := r.Pos
		for range 3 {
			r.Skip()
		}
		short := append([]byte{0x93}, full[start:r.Pos]...)
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

// Every proper prefix of a tick fails as malformed, wherever it ends: in
// a string, a time or a number (the decoder reads short strings and
// times with one bounds check).
func TestTickPrefixes(t *testing.T) {
	tick, err := AppendTick(nil, &engine.Tick{GatewayName: "SIM", Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Name: "rebar", LastPrice: 3200, Datetime: time.Unix(1_700_000_000, 5), Localtime: time.Unix(1_700_000_000, 7)})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(tick) {
		if err := DecodeTickFast(tick[:n:n], &engine.Tick{Symbol: "rb2601"}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("the first %d of %d bytes: %v, want ErrMalformed", n, len(tick), err)
		}
	}
	var got engine.Tick
	if err := DecodeTickFast(tick, &got); err != nil || got.Name != "rebar" || got.Localtime.UnixNano() != 1_700_000_000_000_000_007 {
		t.Fatalf("whole: %v %+v", err, got)
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

// BenchmarkTickEncode and BenchmarkTickDecode split BenchmarkTickFast: the
// service encodes a tick once, and every client decodes it.
func BenchmarkTickEncode(b *testing.B) {
	t := sampleTick()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendTick(buf[:0], t)
	}
}

func BenchmarkTickDecode(b *testing.B) {
	buf, _ := AppendTick(nil, sampleTick())
	var out engine.Tick
	b.ReportAllocs()
	for b.Loop() {
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

// A tick's numbers may come as float64, float32 or integers (another
// writer's choice): a run of float64s that breaks off is read on field
// by field. A reused value takes the next record's exchange.
func TestTickMixedNumbersAndReuse(t *testing.T) {
	for name, kind := range map[string]func(i int) int{
		"mixed":              func(i int) int { return i % 3 },
		"float64s, then one": func(i int) int { return map[bool]int{true: 1, false: 0}[i == 30] },
	} {
		b := mp.AppendArrayLen(nil, tickFields)
		for _, s := range []string{"SIM", "rb2601", "SHFE"} {
			b = mp.AppendStr(b, s)
		}
		b = appendTime(b, time.Unix(0, 5))
		b = mp.AppendStr(b, "rebar")
		var want [31]float64
		for i := range want {
			switch kind(i) {
			case 0:
				want[i] = float64(i) + 0.25
				b = mp.AppendFloat(b, want[i])
			case 1:
				want[i] = float64(i)
				b = append(b, byte(i)) // positive fixint
			case 2:
				want[i] = 0.5
				b = append(b, 0xca, 0x3f, 0, 0, 0) // float32 0.5
			}
		}
		b = appendTime(b, time.Unix(0, 7))
		var tk engine.Tick
		if err := DecodeTickFast(b, &tk); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := [31]float64{tk.Volume, tk.Turnover, tk.OpenInterest, tk.LastPrice, tk.LastVolume, tk.LimitUp, tk.LimitDown,
			tk.OpenPrice, tk.HighPrice, tk.LowPrice, tk.PreClose}
		copy(got[11:], tk.BidPrice[:])
		copy(got[16:], tk.AskPrice[:])
		copy(got[21:], tk.BidVolume[:])
		copy(got[26:], tk.AskVolume[:])
		if got != want || tk.Exchange != engine.ExchangeSHFE || tk.Name != "rebar" || tk.Localtime.UnixNano() != 7 {
			t.Errorf("%s: decoded %v %v %q %v, want %v SHFE rebar 7", name, got, tk.Exchange, tk.Name, tk.Localtime, want)
		}
		next, _ := AppendTick(nil, &engine.Tick{Symbol: "IF2512", Exchange: engine.ExchangeCFFEX, LastPrice: 4000})
		if err := DecodeTickFast(next, &tk); err != nil || tk.Exchange != engine.ExchangeCFFEX || tk.LastPrice != 4000 ||
			tk.Volume != 0 || tk.Symbol != "IF2512" {
			t.Errorf("%s: reused value: %v %+v", name, err, tk)
		}
		if err := DecodeTickFast(next[:len(next)-20], &tk); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: truncated in the numbers: %v", name, err)
		}
	}
}
