package mp

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestBounded(t *testing.T) {
	good, _ := msgpack.Marshal(map[string]any{"a": []any{1, -2, 3.5, "x", []byte{1, 2}, nil, true,
		map[string]any{"deep": strings.Repeat("s", 70000)}}, "b": bytes.Repeat([]byte{9}, 300)})
	for _, b := range [][]byte{nil, {0x00}, good, append(good, good...), {0xc1}} {
		if err := Bounded(b); err != nil {
			t.Errorf("% x…: %v", b[:min(len(b), 8)], err)
		}
	}
	deep := append(bytes.Repeat([]byte{0x91}, MaxDepth+1), 0x00)
	for name, b := range map[string][]byte{
		"bin32 of 4 GiB":     {0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2},
		"bin8 past the end":  {0xc4, 5, 1, 2},
		"str32":              {0xdb, 0x10, 0, 0, 0, 'a'},
		"fixstr":             {0xa5, 'a'},
		"array32 of 4 G":     {0xdd, 0xff, 0xff, 0xff, 0xff, 0},
		"map32 of 4 G":       {0xdf, 0xff, 0xff, 0xff, 0xff, 0, 0},
		"map16 in an array":  {0x92, 0x00, 0xde, 0xff, 0xff},
		"ext32":              {0xc9, 0, 0, 1, 0, 1},
		"fixext16":           {0xd8, 1, 2},
		"a truncated uint64": {0xcf, 1},
		"nested too deep":    deep,
	} {
		if err := Bounded(b); !errors.Is(err, ErrUnbounded) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzBounded: what Bounded passes, msgpack's decoder skips value by value
// to its exact end (no value claims bytes that are not there), unless it
// holds a byte msgpack never uses (0xc1), which Bounded leaves to it.
func FuzzBounded(f *testing.F) {
	good, _ := msgpack.Marshal(map[string]any{"k": []any{1, "v", []byte{2}, 1.5, nil}})
	f.Add(good)
	f.Add([]byte{0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x92, 0xd4, 1, 2, 0xc7, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if Bounded(b) != nil || bytes.IndexByte(b, 0xc1) >= 0 {
			return
		}
		r := bytes.NewReader(b)
		d := msgpack.NewDecoder(r)
		for r.Len() > 0 {
			if err := d.Skip(); err != nil {
				t.Fatalf("Bounded passed % x, Skip: %v", b, err)
			}
		}
	})
}
