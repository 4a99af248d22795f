package testutil

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Field is one row of a layout table in docs/protocol.md.
type Field struct {
	Offset int
	Name   string
	Type   string // u64, u32, i64, or empty
}

// LayoutTable reads the table that follows the line starting with
// heading (e.g. "**Segment header**") in docs/protocol.md, whose path is
// relative to the test's package; tables are "| offset | field | type |
// meaning |".
func LayoutTable(t testing.TB, doc, heading string) []Field {
	t.Helper()
	f, err := os.Open(doc)
	if err != nil {
		t.Fatalf("the layout is specified in %s: %v", doc, err)
	}
	defer f.Close()
	var out []Field
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, heading):
			in = true
		case in && len(out) > 0 && !strings.HasPrefix(l, "|"):
			return out
		case in && strings.HasPrefix(l, "|"):
			cols := strings.Split(strings.Trim(l, "|"), "|")
			if len(cols) < 3 {
				continue
			}
			off, err := strconv.Atoi(strings.TrimSpace(cols[0]))
			if err != nil {
				continue // the head and its rule
			}
			out = append(out, Field{Offset: off, Name: strings.TrimSpace(cols[1]), Type: strings.TrimSpace(cols[2])})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no table after %q", doc, heading)
	}
	return out
}

// CheckLayout compares a layout table with the code's offsets (by field
// name) and sizes: every field of the code is in the table at its offset,
// every row of the table is a field of the code, and each field's type
// fits before the next row's offset.
func CheckLayout(t testing.TB, table []Field, offsets map[string]int) {
	t.Helper()
	size := map[string]int{"u64": 8, "i64": 8, "u32": 4, "": 0}
	seen := map[string]bool{}
	for i, f := range table {
		off, ok := offsets[f.Name]
		switch {
		case !ok:
			t.Errorf("docs/protocol.md lists %s at %d; the code has no such field", f.Name, f.Offset)
		case off != f.Offset:
			t.Errorf("%s: docs/protocol.md says offset %d, the code %d", f.Name, f.Offset, off)
		}
		n, known := size[f.Type]
		if !known {
			t.Errorf("%s: unknown type %q", f.Name, f.Type)
		}
		if f.Offset%max(n, 1) != 0 {
			t.Errorf("%s: offset %d is not aligned for a %s", f.Name, f.Offset, f.Type)
		}
		if i+1 < len(table) && f.Offset+n > table[i+1].Offset {
			t.Errorf("%s (%s at %d) overlaps %s at %d", f.Name, f.Type, f.Offset, table[i+1].Name, table[i+1].Offset)
		}
		seen[f.Name] = true
	}
	for name := range offsets {
		if !seen[name] {
			t.Errorf("%s: in the code, missing from docs/protocol.md", name)
		}
	}
}
