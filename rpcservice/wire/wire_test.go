package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/engine"
)

// samples returns one value of every encoded type with every field set to a
// distinct non-zero value, so a field a codec forgets cannot round-trip.
func samples() []any {
	vals := []any{&engine.Tick{}, &engine.Bar{}, &engine.Order{}, &engine.Trade{}, &engine.Position{},
		&engine.Account{}, &engine.Log{}, &engine.Contract{}, &engine.Quote{}, &engine.SubscribeRequest{},
		&engine.OrderRequest{}, &engine.CancelRequest{}, &engine.HistoryRequest{}, &engine.QuoteRequest{}}
	for _, v := range vals {
		fill(reflect.ValueOf(v).Elem())
	}
	return vals
}

func fill(v reflect.Value) {
	base := time.Date(2026, 11, 23, 9, 30, 0, 123456789, time.UTC)
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(base.Add(time.Duration(i) * time.Second)))
		case f.Kind() == reflect.String:
			f.SetString("s" + strings.Repeat("x", i))
		case f.Kind() == reflect.Float64:
			f.SetFloat(float64(i) + 0.25)
		case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
			f.SetInt(int64(i) * 1000)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Uint8: // enums: member 1 exists in every enum
			f.SetUint(1)
		case f.Kind() == reflect.Array:
			for j := range f.Len() {
				f.Index(j).SetFloat(float64(i*10+j) + 0.5)
			}
		default:
			panic("fill: unhandled field " + v.Type().Field(i).Name)
		}
	}
}

func TestRoundTripEveryObject(t *testing.T) {
	for _, v := range samples() {
		name := reflect.TypeOf(v).Elem().Name()
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := Unmarshal(b, back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(v, back) {
			t.Errorf("%s does not round-trip:\n%+v\n%+v", name, v, back)
		}
	}
}

// The keys on the wire are the struct tags (the book arrays as vn.py's flat
// bid_price_1 … fields), so the tags document the format.
func TestKeysAreTheStructTags(t *testing.T) {
	for _, v := range samples() {
		typ := reflect.TypeOf(v).Elem()
		var want []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("msgpack")
			if f.Type.Kind() == reflect.Array {
				for j := 1; j <= f.Type.Len(); j++ {
					want = append(want, tag+"_"+string(rune('0'+j)))
				}
				continue
			}
			want = append(want, tag)
		}
		b, _ := Marshal(v)
		m := map[string]any{}
		if err := msgpack.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range m {
			got = append(got, k)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s keys\n got %v\nwant %v", typ.Name(), got, want)
		}
	}
}

func TestTimesAreUTCNanoseconds(t *testing.T) {
	sh := time.FixedZone("CST", 8*3600)
	tk := engine.Tick{Symbol: "rb2601", Exchange: engine.ExchangeSHFE,
		Datetime: time.Date(2026, 11, 23, 9, 30, 0, 1, sh)}
	b, err := Marshal(&tk)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := msgpack.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	// msgpack writes the shortest integer form; any reader gets the same number.
	if ns, ok := raw["datetime"].(uint64); !ok || int64(ns) != tk.Datetime.UnixNano() {
		t.Errorf("datetime on the wire %T %v, want int64 %d", raw["datetime"], raw["datetime"], tk.Datetime.UnixNano())
	}
	if raw["localtime"] != nil || raw["exchange"] != "SHFE" {
		t.Errorf("unset time %v, exchange %v", raw["localtime"], raw["exchange"])
	}
	var back engine.Tick
	if err := Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Datetime.Equal(tk.Datetime) || back.Datetime.Location() != time.UTC || !back.Localtime.IsZero() {
		t.Errorf("time back as %v (%v)", back.Datetime, back.Localtime)
	}
}

func TestUnknownKeysAreSkippedAndValueReset(t *testing.T) {
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	_ = e.EncodeMapLen(3)
	_ = e.EncodeString("symbol")
	_ = e.EncodeString("rb2601")
	_ = e.EncodeString("future_field")
	_ = e.EncodeMap(map[string]any{"nested": []int{1, 2}})
	_ = e.EncodeString("exchange")
	_ = e.EncodeString("SHFE")
	o := engine.Order{Price: 99, Reason: "stale"}
	if err := Unmarshal(buf.Bytes(), &o); err != nil {
		t.Fatal(err)
	}
	if o != (engine.Order{Symbol: "rb2601", Exchange: engine.ExchangeSHFE}) {
		t.Errorf("decoded into a reused value: %+v", o)
	}
}

func TestMalformed(t *testing.T) {
	good, _ := Marshal(&engine.Trade{Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Price: 1})
	enc := func(f func(*msgpack.Encoder)) []byte {
		var b bytes.Buffer
		f(msgpack.NewEncoder(&b))
		return b.Bytes()
	}
	cases := map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)-3],
		"trailing":  append(slices.Clone(good), 0xc0),
		"not a map": enc(func(e *msgpack.Encoder) { _ = e.EncodeString("hello") }),
		"nil":       {0xc0},
		"bad enum": enc(func(e *msgpack.Encoder) {
			_ = e.EncodeMapLen(1)
			_ = e.EncodeString("exchange")
			_ = e.EncodeString("MOON")
		}),
		"wrong type": enc(func(e *msgpack.Encoder) {
			_ = e.EncodeMapLen(1)
			_ = e.EncodeString("price")
			_ = e.EncodeString("cheap")
		}),
		"non-string key": enc(func(e *msgpack.Encoder) {
			_ = e.EncodeMapLen(1)
			_ = e.EncodeInt(1)
			_ = e.EncodeInt(2)
		}),
	}
	for name, b := range cases {
		var tr engine.Trade
		err := Unmarshal(b, &tr)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := Marshal(42); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Marshal(42): %v", err)
	}
	if _, err := Marshal(&engine.Order{Status: engine.Status(99)}); err == nil {
		t.Error("an invalid enum value encoded")
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range samples() {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x81, 0xa6, 's', 'y', 'm', 'b', 'o', 'l', 0xdb, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, proto := range samples() {
			typ := reflect.TypeOf(proto).Elem()
			v := reflect.New(typ).Interface()
			if err := Unmarshal(b, v); err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s: error %v does not wrap ErrMalformed", typ.Name(), err)
				}
				continue
			}
			// What decodes must encode and decode to the same value.
			again, err := Marshal(v)
			if err != nil {
				t.Fatalf("%s: re-encode: %v", typ.Name(), err)
			}
			v2 := reflect.New(typ).Interface()
			if err := Unmarshal(again, v2); err != nil {
				t.Fatalf("%s: re-decode: %v", typ.Name(), err)
			}
			if !reflect.DeepEqual(v, v2) && !hasNaN(v) {
				t.Fatalf("%s: unstable round trip\n%+v\n%+v", typ.Name(), v, v2)
			}
		}
	})
}

// hasNaN: NaN floats round-trip but never compare equal.
func hasNaN(v any) bool { return strings.Contains(fmt.Sprintf("%+v", v), "NaN") }
