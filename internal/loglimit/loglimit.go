// Package loglimit bounds what peers can make a server log: at most one
// line per peer and kind per interval, and a few per kind across all
// peers (a flood of connections each with a name of its own), with a
// count of the lines held back, and client-supplied strings cut to a
// length.
package loglimit

import (
	"strconv"
	"sync"
	"time"
)

// DefaultEvery is the interval a Limiter uses unless told otherwise.
const DefaultEvery = 10 * time.Second

// DefaultPerKind is how many lines of one kind a Limiter lets through per
// interval across all peers unless told otherwise.
const DefaultPerKind = 20

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
// lets one line per peer and kind through every DefaultEvery, and
// DefaultPerKind of a kind.
type Limiter struct {
	Every   time.Duration // 0: DefaultEvery
	PerKind int           // 0: DefaultPerKind
	now     func() time.Time

	mu    sync.Mutex
	keys  map[key]*state
	kinds map[string]*kindState
}

// kindState counts one kind's lines in the current interval.
type kindState struct {
	start      time.Time
	n          int
	suppressed uint64
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
	ks := l.kind(kind, t, every)
	perKind := l.PerKind
	if perKind <= 0 {
		perKind = DefaultPerKind
	}
	if ks.n >= perKind {
		ks.suppressed++
		return false, 0
	}
	ok, suppressed = l.allowPeer(peer, kind, t, every)
	if ok {
		ks.n++
		suppressed += ks.suppressed
		ks.suppressed = 0
	}
	return ok, suppressed
}

// kind returns kind's count for the interval that t is in.
func (l *Limiter) kind(kind string, t time.Time, every time.Duration) *kindState {
	if l.kinds == nil {
		l.kinds = make(map[string]*kindState)
	}
	ks := l.kinds[kind] // kinds are the program's constants: a few
	if ks == nil {
		ks = &kindState{start: t}
		l.kinds[kind] = ks
	}
	if t.Sub(ks.start) >= every {
		ks.start, ks.n = t, 0
	}
	return ks
}

// allowPeer applies the per-peer interval; the caller holds mu.
func (l *Limiter) allowPeer(peer, kind string, t time.Time, every time.Duration) (ok bool, suppressed uint64) {
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
