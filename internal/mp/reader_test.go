package mp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

var errTest = errors.New("test: malformed")

// FuzzReader: over any bytes, the Reader never panics or reads out of
// range; Skip passes exactly the value msgpack's own Decoder skips (when
// Bounded passes the input: msgpack's Decoder would allocate declared
// sizes first), and every error wraps the Reader's sentinel.
func FuzzReader(f *testing.F) {
	good, _ := msgpack.Marshal(map[string]any{"k": []any{1, "v", []byte{2}, 1.5, nil, -7, uint64(1) << 63}})
	f.Add(good)
	f.Add([]byte{0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x92, 0xd4, 1, 2, 0xc7, 1, 0, 0})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The strict readers agree with the lenient ones where they
		// accept, and refuse nil and negative values.
		{
			r, l := NewReader(b, errTest, "fuzz"), NewReader(b, errTest, "fuzz")
			v, w := r.UintStrict(), l.Uint()
			if r.Err == nil && (v != w || r.Pos != l.Pos || b[0] == 0xc0 || b[0] >= 0xe0 || int64(v) < 0 && b[0] >= 0xd0) {
				t.Fatalf("% x: UintStrict %d, Uint %d", b, v, w)
			}
		}
		{
			r, l := NewReader(b, errTest, "fuzz"), NewReader(b, errTest, "fuzz")
			v, w := r.IntStrict(), l.Int()
			if r.Err == nil && (v != w || r.Pos != l.Pos || b[0] == 0xc0) {
				t.Fatalf("% x: IntStrict %d, Int %d", b, v, w)
			}
		}
		r := NewReader(b, errTest, "fuzz")
		r.Skip()
		if r.Err != nil && !errors.Is(r.Err, errTest) {
			t.Fatalf("Skip: %v does not wrap the sentinel", r.Err)
		}
		if r.Pos < 0 || r.Pos > len(b) {
			t.Fatalf("Skip left the reader at %d of %d bytes", r.Pos, len(b))
		}
		if Bounded(b) == nil && bytes.IndexByte(b, 0xc1) < 0 && len(b) > 0 {
			br := bytes.NewReader(b)
			if err := msgpack.NewDecoder(br).Skip(); err == nil {
				if want := len(b) - br.Len(); r.Err != nil || r.Pos != want {
					t.Fatalf("% x: msgpack skips %d bytes; Skip %d (%v)", b, want, r.Pos, r.Err)
				}
			}
		}
		// Every other read stays in range and fails with the sentinel.
		for _, read := range []func(*Reader){
			func(r *Reader) { r.Header() }, func(r *Reader) { r.Uint() }, func(r *Reader) { r.Int() },
			func(r *Reader) { r.Float() }, func(r *Reader) { r.StrBytes() }, func(r *Reader) { r.Bin() },
			func(r *Reader) { r.UintStrict() }, func(r *Reader) { r.IntStrict() },
		} {
			r := NewReader(b, errTest, "fuzz")
			for r.Err == nil && r.Pos < len(b) {
				read(&r)
			}
			if r.Err != nil && !errors.Is(r.Err, errTest) || r.Pos > len(b) {
				t.Fatalf("a read: %v at %d of %d", r.Err, r.Pos, len(b))
			}
		}
	})
}
