package callrt

import (
	"testing"
	"time"
)

// request is a decoded request with a timeout, sent at sent by the
// client's clock and arriving at arrived by the server's.
func request(sent, arrived int64, timeout time.Duration) *Request {
	base := time.Unix(1000, 0)
	return &Request{Timeout: timeout, Sent: sent, arrived: arrived, Deadline: base.Add(timeout)}
}

func TestTransitTakesTheDelayOnTheWay(t *testing.T) {
	var tr Transit
	const offset = int64(5 * time.Second) // the server's clock runs 5 s ahead of the client's
	base := time.Unix(1000, 0)
	// The first request sets the connection's quickest way: no correction.
	q := request(0+1, offset+1+int64(50*time.Microsecond), time.Second)
	tr.Observe(q)
	if want := base.Add(time.Second); !q.Deadline.Equal(want) {
		t.Fatalf("first request: deadline %v, want %v", q.Deadline, want)
	}
	// One that took 300 ms longer on the way (a stopped server) has 300 ms
	// less to run.
	sent := int64(time.Second)
	q = request(sent, offset+sent+int64(50*time.Microsecond+300*time.Millisecond), time.Second)
	tr.Observe(q)
	if want := base.Add(700 * time.Millisecond); !q.Deadline.Equal(want) {
		t.Fatalf("delayed request: deadline %v, want %v", q.Deadline, want)
	}
	// A quicker one becomes the new quickest: no correction.
	sent = int64(2 * time.Second)
	q = request(sent, offset+sent+int64(10*time.Microsecond), time.Second)
	tr.Observe(q)
	if want := base.Add(time.Second); !q.Deadline.Equal(want) {
		t.Fatalf("quicker request: deadline %v, want %v", q.Deadline, want)
	}
	// No Sent, or no timeout: nothing to correct.
	q = request(0, offset+int64(3*time.Second), time.Second)
	tr.Observe(q)
	if want := base.Add(time.Second); !q.Deadline.Equal(want) {
		t.Fatalf("request without Sent: deadline %v, want %v", q.Deadline, want)
	}
}

// The quickest way is forgotten after two windows: clocks that drift
// apart do not shorten every later call.
func TestTransitForgetsOldQuickest(t *testing.T) {
	var tr Transit
	base := time.Unix(1000, 0)
	tr.Observe(request(1, 1, time.Second)) // difference 0
	// The client's clock now runs 1 ms slower for good: every difference
	// is 1 ms larger. Within two windows that reads as 1 ms of delay.
	at := int64(3 * transitWindow)
	q := request(at, at+int64(time.Millisecond), time.Second)
	tr.Observe(q)
	q = request(at+1, at+1+int64(time.Millisecond), time.Second)
	tr.Observe(q)
	if want := base.Add(time.Second); !q.Deadline.Equal(want) {
		t.Fatalf("after the old quickest aged out: deadline %v, want %v", q.Deadline, want)
	}
}
