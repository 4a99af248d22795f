package callrt

import "time"

// clockBase is the origin of Now.
var clockBase = time.Now()

// Now is this process's monotonic clock in nanoseconds from an origin of
// its own: what a client puts in Request.Sent.
func Now() int64 { return int64(time.Since(clockBase)) }

// transitWindow is how long a Transit remembers a fastest arrival: long
// enough that a connection's pings (every second) keep it, short enough
// that two hosts' clocks drifting apart (tens of µs per second at worst)
// do not add up.
const transitWindow = 5 * time.Second

// Transit measures, for one connection, how long each request took to
// reach the server beyond the connection's usual, and takes that from the
// request's time: a request that waited in socket buffers, or behind a
// stopped or busy server, has used up that much of its caller's timeout.
//
// The request's Sent (the client's clock) and its arrival (the server's)
// are on clocks with different origins, so their difference is the
// clocks' offset plus the time on the way. The least difference of the
// last few seconds stands for the offset plus the quickest way; a request
// whose difference is larger arrived that much later than it could have.
// The server's deadline is thus later than the caller's by the quickest
// one-way time (microseconds), whatever the clocks say. A client that
// sends no Sent, or inconsistent ones, gets no correction, or shortens
// only its own calls.
//
// A Transit belongs to the goroutine that decodes the connection's
// requests.
type Transit struct {
	least [2]int64 // the least difference in this window and the last
	have  [2]bool
	since int64 // when this window began (Now)
}

// Observe takes req (just decoded) into the connection's record and
// brings its Deadline forward by its delay on the way.
func (t *Transit) Observe(req *Request) {
	if req.Sent == 0 {
		return
	}
	d := req.arrived - req.Sent
	if gone := req.arrived - t.since; gone >= int64(transitWindow) {
		// A new window; the last one is kept only if it just ended.
		t.least[1], t.have[1] = t.least[0], t.have[0] && gone < 2*int64(transitWindow)
		t.have[0], t.since = false, req.arrived
	}
	if !t.have[0] || d < t.least[0] {
		t.least[0], t.have[0] = d, true
	}
	least := t.least[0]
	if t.have[1] && t.least[1] < least {
		least = t.least[1]
	}
	if late := d - least; late > 0 && !req.Deadline.IsZero() {
		req.Deadline = req.Deadline.Add(-time.Duration(late))
	}
}
