// Package loglimit bounds what peers can make a server log: at most one
// line per peer and kind per interval, with a count of the lines held
// back, and client-supplied strings cut to a length.
package loglimit

import (
	"strconv"
	"sync"
	"time"
)

// DefaultEvery is the interval a Limiter uses unless told otherwise.
const DefaultEvery = 10 * time.Second

// maxKeys bounds the (peer, kind) pairs a Limiter remembers; when it is
// full, the pairs whose interval has passed are forgotten, and if none
// has, every pair is (a burst of lines then, never unbounded memory).
const maxKeys = 4096

type key struct{ peer, kind string }

type state struct {
	last       time.Time
	suppressed uint64
}

// A Limiter decides which log lines to write. The zero value is ready and
// lets one line per peer and kind through every DefaultEvery.
type Limiter struct {
	Every time.Duration // 0: DefaultEvery
	now   func() time.Time

	mu   sync.Mutex
	keys map[key]*state
}

// Allow reports whether a line about peer of this kind may be logged
// now, and how many were held back since the last one that was.
func (l *Limiter) Allow(peer, kind string) (ok bool, suppressed uint64) {
	every := l.Every
	if every <= 0 {
		every = DefaultEvery
	}
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	t := now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := key{peer, kind}
	st := l.keys[k]
	if st == nil {
		if l.keys == nil {
			l.keys = make(map[key]*state)
		}
		if len(l.keys) >= maxKeys {
			l.forget(t, every)
		}
		l.keys[k] = &state{last: t}
		return true, 0
	}
	if t.Sub(st.last) < every {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.last, st.suppressed = t, 0
	return true, n
}

// forget drops the pairs whose interval has passed (their held-back
// counts go unreported), or all of them if none has.
func (l *Limiter) forget(t time.Time, every time.Duration) {
	for k, st := range l.keys {
		if t.Sub(st.last) >= every {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= maxKeys {
		clear(l.keys)
	}
}

// Cut returns s cut to at most n bytes (at a UTF-8 boundary where it
// can), with the number of bytes cut said at the end, for logging a
// string a peer supplied.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-4 && s[i]&0xC0 == 0x80 { // not in the middle of a rune
		i--
	}
	return s[:i] + "…(" + strconv.Itoa(len(s)-i) + " more bytes)"
}
