package callrt

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vnrpc/vnrpc/calls"
)

// Call is one call in flight. Done receives the Call when it completes.
type Call struct {
	Method string
	Result []byte
	Err    error
	Done   chan *Call
	ID     uint64
	// Expires, if not zero, is when (Unix ns) the client gives up on the
	// call by itself (Pending.Expire), with no context timer.
	Expires int64
}

func (c *Call) finish() {
	select {
	case c.Done <- c:
	default: // Done must be buffered; a full channel loses nothing but this signal
	}
}

// Pending is a client's table of calls in flight, matched by id. Once it
// has failed, every call in it and every later Add completes with that
// error. It is safe for concurrent use.
type Pending struct {
	mu       sync.Mutex
	m        map[uint64]*Call
	next     uint64
	err      error
	expiring atomic.Int32 // calls in m with Expires set
}

// Add registers a call to method with a fresh id. done must be buffered
// (nil: a new one). If the table has failed, the call completes at once
// with that error and ok is false.
func (p *Pending) Add(method string, done chan *Call) (call *Call, ok bool) {
	if done == nil {
		done = make(chan *Call, 1)
	}
	call = &Call{Method: method, Done: done}
	return call, p.Register(call)
}

// Register is Add for a Call the caller made (or recycled): its Method
// and Done (buffered, empty) set, its other fields zero.
func (p *Pending) Register(call *Call) (ok bool) {
	p.mu.Lock()
	if p.err != nil {
		call.Err = p.err
		p.mu.Unlock()
		call.finish()
		return false
	}
	if p.m == nil {
		p.m = map[uint64]*Call{}
	}
	p.next++
	call.ID = p.next
	p.m[call.ID] = call
	if call.Expires != 0 {
		p.expiring.Add(1)
	}
	p.mu.Unlock()
	return true
}

// Expiring reports whether any pending call has Expires set.
func (p *Pending) Expiring() bool { return p.expiring.Load() > 0 }

// take removes call id from m and returns it; the caller holds mu.
func (p *Pending) take(id uint64) (*Call, bool) {
	call, ok := p.m[id]
	if ok {
		delete(p.m, id)
		if call.Expires != 0 {
			p.expiring.Add(-1)
		}
	}
	return call, ok
}

// Complete finishes the call with id, if it is still pending (its caller
// may have given up).
func (p *Pending) Complete(id uint64, res []byte, err error) {
	p.mu.Lock()
	call, ok := p.take(id)
	p.mu.Unlock()
	if ok {
		call.Result, call.Err = res, err
		call.finish()
	}
}

// CompleteReply finishes the call a reply answers: its result, or a
// *calls.RemoteError for a non-zero code.
func (p *Pending) CompleteReply(rep *Reply) {
	if rep.Code == calls.CodeOK {
		p.Complete(rep.ID, rep.Result, nil)
		return
	}
	p.mu.Lock()
	method := ""
	if call, ok := p.m[rep.ID]; ok {
		method = call.Method
	}
	p.mu.Unlock()
	p.Complete(rep.ID, nil, &calls.RemoteError{Method: method, Code: rep.Code, Msg: rep.Msg})
}

// Forget removes a pending call; false if it had already completed.
func (p *Pending) Forget(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.take(id)
	return ok
}

// Fail completes every pending call with err and makes later Adds fail
// with it. The first failure is kept; Fail returns it.
func (p *Pending) Fail(err error) error {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	calls, final := p.m, p.err
	p.m = nil
	p.expiring.Store(0)
	p.mu.Unlock()
	for _, call := range calls {
		call.Err = final
		call.finish()
	}
	return final
}

// ErrExpired completes a call whose Expires passed (Pending.Expire); it
// wraps context.DeadlineExceeded.
var ErrExpired = fmt.Errorf("call expired: %w", context.DeadlineExceeded)

// Expire completes, with ErrExpired, every pending call whose Expires is
// at or before now. It returns how many it completed and the earliest
// Expires still pending (0: none).
func (p *Pending) Expire(now int64) (n int, next int64) {
	var expired []*Call
	p.mu.Lock()
	for id, call := range p.m {
		switch {
		case call.Expires == 0:
		case call.Expires <= now:
			expired = append(expired, call)
			p.take(id)
		case next == 0 || call.Expires < next:
			next = call.Expires
		}
	}
	p.mu.Unlock()
	for _, call := range expired {
		call.Err = ErrExpired
		call.finish()
	}
	return len(expired), next
}

// Len is the number of calls pending.
func (p *Pending) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// Err is the table's failure, or nil.
func (p *Pending) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Wait waits for call or for ctx's end. If ctx ends first the call is
// forgotten (a late reply is dropped) and gaveUp is true, with ctx's error.
func (p *Pending) Wait(ctx context.Context, call *Call) (res []byte, gaveUp bool, err error) {
	select {
	case <-call.Done:
		return call.Result, false, call.Err
	case <-ctx.Done():
		if p.Forget(call.ID) {
			return nil, true, ctx.Err()
		}
		<-call.Done // the reply won the race
		return call.Result, false, call.Err
	}
}
