package callrt

import (
	"context"
	"sync"
)

// Role is a connection's reader role, shared by its callers in the
// leader/follower scheme both transports use: a waiting caller that finds
// the role free takes it and reads replies itself, completing other calls
// on the way; the others wait for their reply or for the role to be
// handed to them. No goroutine stands between the socket and a caller, so
// a lone caller is woken by the socket itself. The zero Role is ready.
type Role struct {
	mu   sync.Mutex
	once sync.Once
	kick chan struct{} // cap 1: the role is free while calls wait
}

func (r *Role) kicks() chan struct{} {
	r.once.Do(func() { r.kick = make(chan struct{}, 1) })
	return r.kick
}

// TryLock takes the role if it is free; Lock waits for it.
func (r *Role) TryLock() bool { return r.mu.TryLock() }
func (r *Role) Lock()         { r.mu.Lock() }

// Unlock releases the role.
func (r *Role) Unlock() { r.mu.Unlock() }

// Wait waits for call's reply, running lead (which reads replies until
// call completes or ctx ends) whenever the role is free. If ctx ends
// first the call is forgotten in p and gaveUp is true.
func (r *Role) Wait(ctx context.Context, p *Pending, call *Call,
	lead func(ctx context.Context, call *Call) ([]byte, bool, error)) (res []byte, gaveUp bool, err error) {
	defer r.handOff(p)
	kick := r.kicks()
	for {
		select {
		case <-call.Done:
			return call.Result, false, call.Err
		default:
		}
		if r.mu.TryLock() {
			res, gaveUp, err = lead(ctx, call)
			r.mu.Unlock()
			return res, gaveUp, err
		}
		select {
		case <-call.Done:
			return call.Result, false, call.Err
		case <-kick:
		case <-ctx.Done():
			if p.Forget(call.ID) {
				return nil, true, ctx.Err()
			}
			<-call.Done // the reply won the race
			return call.Result, false, call.Err
		}
	}
}

// handOff passes the role to a waiting caller, if any.
func (r *Role) handOff(p *Pending) {
	if p.Len() > 0 {
		select {
		case r.kicks() <- struct{}{}:
		default: // a kick is already waiting to be taken
		}
	}
}

// Async turns a call in flight into an asynchronous one: a goroutine,
// counted in wg, waits for it with wait and hands the outcome to a new
// Call on done (buffered; nil: a new one), which Async returns.
func Async(wg *sync.WaitGroup, inner *Call, done chan *Call,
	wait func(ctx context.Context, call *Call) ([]byte, bool, error)) *Call {
	if done == nil {
		done = make(chan *Call, 1)
	}
	out := &Call{Method: inner.Method, ID: inner.ID, Done: done}
	wg.Add(1)
	go func() {
		defer wg.Done()
		out.Result, _, out.Err = wait(context.Background(), inner)
		out.finish()
	}()
	return out
}
