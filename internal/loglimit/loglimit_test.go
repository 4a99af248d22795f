package loglimit

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAllowOncePerInterval(t *testing.T) {
	now := time.Unix(0, 0)
	l := &Limiter{Every: time.Second, now: func() time.Time { return now }}
	if ok, n := l.Allow("a", "bad"); !ok || n != 0 {
		t.Fatalf("first line: ok=%v held=%d", ok, n)
	}
	for range 5 {
		if ok, _ := l.Allow("a", "bad"); ok {
			t.Fatal("a second line within the interval was let through")
		}
	}
	if ok, _ := l.Allow("b", "bad"); !ok {
		t.Fatal("another peer's first line was held back")
	}
	if ok, _ := l.Allow("a", "other"); !ok {
		t.Fatal("another kind's first line was held back")
	}
	now = now.Add(time.Second)
	if ok, n := l.Allow("a", "bad"); !ok || n != 5 {
		t.Fatalf("after the interval: ok=%v held=%d, want true 5", ok, n)
	}
}

func TestKeysStayBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := &Limiter{Every: time.Hour, now: func() time.Time { return now }}
	for i := range 3 * maxKeys {
		l.Allow(fmt.Sprint("peer", i), "bad")
		if len(l.keys) > maxKeys {
			t.Fatalf("%d keys remembered after %d peers", len(l.keys), i+1)
		}
	}
}

func TestCut(t *testing.T) {
	if got := Cut("short", 10); got != "short" {
		t.Fatalf("Cut changed a short string: %q", got)
	}
	long := strings.Repeat("x", 4<<20)
	if got := Cut(long, 64); len(got) > 100 || !strings.HasSuffix(got, "(4194240 more bytes)") {
		t.Fatalf("Cut(4 MiB, 64) = %q", got)
	}
	s := strings.Repeat("价", 30) // 3 bytes each
	for n := range 20 {
		got := Cut(s, n)
		if !utf8.ValidString(got) {
			t.Fatalf("Cut(%d) split a rune: %q", n, got)
		}
	}
}

// Many peers, one kind: PerKind lines per interval, and the count of the
// others comes with the next line let through.
func TestPerKindAcrossPeers(t *testing.T) {
	now := time.Unix(0, 0)
	l := &Limiter{Every: time.Second, PerKind: 3, now: func() time.Time { return now }}
	let := 0
	for i := range 100 {
		if ok, _ := l.Allow(fmt.Sprint("peer", i), "refused"); ok {
			let++
		}
	}
	if let != 3 {
		t.Fatalf("%d lines of a kind let through in one interval, want 3", let)
	}
	if ok, _ := l.Allow("peer0", "other"); !ok {
		t.Fatal("another kind was held back")
	}
	now = now.Add(time.Second)
	if ok, held := l.Allow("peer100", "refused"); !ok || held != 97 {
		t.Fatalf("the next interval: ok=%v held=%d, want true 97", ok, held)
	}
}
