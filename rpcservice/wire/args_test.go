package wire

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vnrpc/vnrpc/engine"
	"github.com/vnrpc/vnrpc/internal/mp"
)

func argRequests() []engine.OrderRequest {
	return []engine.OrderRequest{
		{},
		{Symbol: "rb2601", Exchange: engine.ExchangeSHFE, Direction: engine.DirectionLong, Type: engine.OrderTypeFAK,
			Volume: 1, Price: 3200, Offset: engine.OffsetOpen, Reference: "s0"},
		{Symbol: strings.Repeat("长", 40), Exchange: engine.ExchangeCFFEX, Direction: engine.DirectionShort,
			Type: engine.OrderTypeLimit, Volume: math.MaxFloat64, Price: -0.5, Offset: engine.OffsetCloseToday,
			Reference: strings.Repeat("r", 300)},
	}
}

func argCancels() []engine.CancelRequest {
	return []engine.CancelRequest{{}, {OrderID: "7", Symbol: "rb2601", Exchange: engine.ExchangeSHFE},
		{OrderID: strings.Repeat("9", 70000), Symbol: "IF2512", Exchange: engine.ExchangeCFFEX}}
}

// The hand-written send_order and cancel_order arguments are the general
// path's bytes, and decode to the same values.
func TestFastArgsAreTheGeneralForm(t *testing.T) {
	for _, gw := range []string{"", "SIM", strings.Repeat("G", 40)} {
		for _, req := range argRequests() {
			fast, err := EncodeArgs(&req, gw)
			if err != nil {
				t.Fatal(err)
			}
			slow, err := encodeArgs(&req, gw)
			if err != nil || !bytes.Equal(fast, slow) {
				t.Fatalf("%+v: fast % x\nslow % x (%v)", req, fast, slow, err)
			}
			var got engine.OrderRequest
			var g string
			if !decodeOrderRequestArgs(fast, &got, &g) || got != req || g != gw {
				t.Fatalf("decoded %+v %q, want %+v %q", got, g, req, gw)
			}
		}
		for _, req := range argCancels() {
			fast, _ := EncodeArgs(&req, gw)
			slow, err := encodeArgs(&req, gw)
			if err != nil || !bytes.Equal(fast, slow) {
				t.Fatalf("%+v: fast and slow bytes differ (%v)", req, err)
			}
			var got engine.CancelRequest
			var g string
			if !decodeCancelArgs(fast, &got, &g) || got != req || g != gw {
				t.Fatalf("decoded %+v %q, want %+v %q", got, g, req, gw)
			}
		}
	}
	// An invalid enum takes the general path and its error.
	bad := engine.OrderRequest{Exchange: engine.Exchange(250)}
	if _, err := EncodeArgs(&bad, "SIM"); err == nil || !strings.Contains(err.Error(), "OrderRequest.exchange") {
		t.Fatalf("invalid exchange: %v", err)
	}
}

// FuzzArgs: DecodeArgs, with its hand-written path for send_order and
// cancel_order, decides every input as the general path does.
func FuzzArgs(f *testing.F) {
	for _, req := range argRequests() {
		b, _ := EncodeArgs(&req, "SIM")
		f.Add(b)
		f.Add(b[:len(b)-3])
		f.Add(append(b, 0xc0))
	}
	for _, req := range argCancels()[:2] {
		b, _ := EncodeArgs(&req, "SIM")
		f.Add(b)
	}
	// Not canonical: a bin string, an integer volume, a key twice, an unknown key.
	f.Add([]byte("\x92\x82\xa6symbol\xc4\x02rb\xa6volume\x01\xa3SIM"))
	f.Add([]byte("\x92\x82\xa6symbol\xa2rb\xa6symbol\xa2cu\xa3SIM"))
	f.Add([]byte("\x92\x81\xa3foo\xa3bar\xa3SIM"))
	general := func(b []byte, ptrs ...any) error { // DecodeArgs without its hand-written path
		if err := mp.Bounded(b); err != nil {
			return err
		}
		return decodeArgs(b, ptrs...)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var o1, o2 engine.OrderRequest
		var g1, g2 string
		e1, e2 := DecodeArgs(b, &o1, &g1), general(b, &o2, &g2)
		if (e1 == nil) != (e2 == nil) || e1 == nil && (!sameRequest(o1, o2) || g1 != g2) {
			t.Fatalf("order request: %+v %q %v; general path %+v %q %v", o1, g1, e1, o2, g2, e2)
		}
		var c1, c2 engine.CancelRequest
		e1, e2 = DecodeArgs(b, &c1, &g1), general(b, &c2, &g2)
		if (e1 == nil) != (e2 == nil) || e1 == nil && (c1 != c2 || g1 != g2) {
			t.Fatalf("cancel request: %+v %q %v; general path %+v %q %v", c1, g1, e1, c2, g2, e2)
		}
	})
}

func sameRequest(a, b engine.OrderRequest) bool {
	return reflect.DeepEqual(a, b) || math.IsNaN(a.Price) || math.IsNaN(a.Volume) // NaN != NaN
}

// BenchmarkArgsOrder: send_order's arguments encoded by the client and
// decoded by the server, as on a strategy's tick-to-order path.
func BenchmarkArgsOrder(b *testing.B) {
	req := argRequests()[1]
	var out engine.OrderRequest
	var gw string
	b.ReportAllocs()
	for b.Loop() {
		a, _ := EncodeArgs(&req, "SIM")
		_ = DecodeArgs(a, &out, &gw)
	}
}
