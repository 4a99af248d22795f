//go:build linux

package uds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnrpc/vnrpc/internal/callrt"
)

// Client calls a Server over one connection. Any number of calls may be in
// flight at once, from any goroutines; replies are matched by id. A call
// whose context ends stops waiting and leaves the client usable (a late
// reply is dropped); the deadline travels with the request, and the server
// refuses to run a request whose deadline has passed. When the connection
// is lost every pending call fails with an error wrapping ErrClosed.
//
// There is no reader goroutine between the socket and a caller: a waiting
// caller takes the reader role and reads replies itself, completing other
// callers' calls on the way, and hands the role on when its own reply has
// come (a leader/follower scheme). A single caller thus wakes straight
// from the socket, as a plain blocking read would, with no goroutine
// hand-off; on a small machine that hand-off costs more than the call. A
// watcher goroutine waits for the peer's hang-up only (in the netpoller,
// through an epoll instance: no thread), so a dead server is noticed at
// once even when no call is in flight.
type Client struct {
	c    *net.UnixConn
	opts Options

	wmu      sync.Mutex
	wq       []byte // requests waiting for the flusher
	spare    []byte
	flushing bool // a caller is writing wq out

	pending callrt.Pending

	role callrt.Role  // the reader role; its holder owns fr and the lead fields
	fr   *frameReader // replies

	leadCtx   context.Context // the role holder's
	leadStop  func() bool     // undoes the AfterFunc that interrupts its read
	armed     atomic.Int64    // the read deadline set for the calls' Expires (Unix ns), or 0
	earlier   atomic.Uint64   // bumped by a call that expires before armed
	interrupt func()          // makes a blocked read return os.ErrDeadlineExceeded

	hup       *hangup // the watcher's
	watchDone chan struct{}
	async     sync.WaitGroup // goroutines behind Go
	done      chan struct{}
	endOnce   sync.Once
	closeOnce sync.Once
}

// aLongTimeAgo is a read deadline that interrupts a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

// Dial connects to the server at path.
func Dial(ctx context.Context, path string, o Options) (*Client, error) {
	o.defaults()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("uds: dial %s: %w", path, err)
	}
	uc := conn.(*net.UnixConn)
	c := &Client{c: uc, opts: o, watchDone: make(chan struct{}), done: make(chan struct{})}
	c.interrupt = func() { _ = uc.SetReadDeadline(aLongTimeAgo) }
	c.fr = newFrameReader(reader(uc, o.Poll, c.arm), o.MaxReply)
	if c.hup, err = newHangup(uc); err != nil {
		_ = uc.Close()
		return nil, fmt.Errorf("uds: dial %s: watcher: %w", path, err)
	}
	go c.watch()
	return c, nil
}

// watch waits for the peer's hang-up (or Close) without reading, so it
// never competes with callers for replies. On hang-up it takes the reader
// role, delivers the replies still buffered, and ends the client.
func (c *Client) watch() {
	defer close(c.watchDone)
	if err := c.hup.wait(); err != nil {
		if !errors.Is(err, os.ErrClosed) {
			c.end(fmt.Errorf("uds: watching the connection: %w", err))
		}
		return
	}
	c.role.Lock()
	c.leadCtx = context.Background()
	for c.pending.Err() == nil {
		err := c.readOne()
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A call's Expires or a caller's interrupt, not the end: the
			// replies still buffered are delivered, then EOF ends it.
			c.clearDeadline()
			c.pending.Expire(time.Now().UnixNano())
		default:
			c.end(err)
		}
	}
	c.role.Unlock()
}

// goCall starts a call and returns at once; done (buffered; nil: a new
// one) receives the Call when it completes. ctx's deadline travels with
// the request; ctx's end does not cancel the call. Close waits for it.
func (c *Client) goCall(ctx context.Context, method string, args []byte, done chan *callrt.Call) *callrt.Call {
	return callrt.Async(&c.async, c.start(ctx, &callrt.Call{Method: method, Done: make(chan *callrt.Call, 1)}, args), done, c.wait)
}

// start registers and sends a call; its Done is private to the client.
func (c *Client) start(ctx context.Context, call *callrt.Call, args []byte) *callrt.Call {
	if !c.pending.Register(call) {
		return call
	}
	deadline := callrt.Deadline(ctx)
	if call.Expires != 0 {
		if deadline == 0 || call.Expires < deadline {
			deadline = call.Expires
		}
		if a := c.armed.Load(); a == 0 || call.Expires < a {
			// The reader's deadline is later than this call's Expires (or
			// unset): wake it to re-arm (see armExpiry).
			c.earlier.Add(1)
			c.interrupt()
		}
	}
	c.wmu.Lock()
	at := len(c.wq)
	c.wq = callrt.AppendRequest(c.wq, &callrt.Request{ID: call.ID, Method: call.Method, Timeout: callrt.TimeoutUntil(deadline), Sent: callrt.Now(), Args: args})
	if n := len(c.wq) - at - lenPrefix; n > c.opts.MaxFrame {
		c.wq = c.wq[:at]
		c.wmu.Unlock()
		c.pending.Complete(call.ID, nil, fmt.Errorf("%w: request of %d bytes, limit %d", ErrFrameTooLarge, n, c.opts.MaxFrame))
		return call
	}
	if !c.flushing {
		c.flush()
	}
	c.wmu.Unlock()
	return call
}

// flush writes the queued requests, and those queued meanwhile, with
// wmu held except during each write: concurrent callers' requests go out
// together in one write (group commit). A failed write ends the client.
func (c *Client) flush() {
	c.flushing = true
	if c.pending.Len() > 1 {
		// Other calls in flight: the callers whose replies the leader has
		// just read are likely runnable and about to send. Let them queue
		// their requests first, to go out in this write. (A lone caller
		// does not yield: it would only risk a hop to another thread.)
		// With 8 blocking callers this took writes from 1.14 to 0.36 per
		// call and calls/s from 82-93 k to 107-133 k.
		c.wmu.Unlock()
		runtime.Gosched()
		c.wmu.Lock()
	}
	for len(c.wq) > 0 {
		out := c.wq
		c.wq = c.spare[:0]
		c.wmu.Unlock()
		_, err := c.c.Write(out)
		c.wmu.Lock()
		c.spare = callrt.Reuse(out)
		if err != nil {
			c.wq = c.wq[:0]
			c.wmu.Unlock()
			c.end(fmt.Errorf("%w: %w", ErrClosed, err))
			c.wmu.Lock()
		}
	}
	c.flushing = false
}

// Call makes a call and waits for its reply or ctx's end. A remote
// failure is a *calls.RemoteError.
func (c *Client) Call(ctx context.Context, method string, args []byte) ([]byte, error) {
	return c.call(ctx, method, args, 0)
}

// CallTimeout is Call with a timeout that costs no context: the request
// carries now+timeout (or ctx's deadline if earlier) as its deadline, and
// the client gives up on it then by itself (an error wrapping
// context.DeadlineExceeded). The reader role enforces every call's
// timeout with one read deadline, the earliest in flight, never moved
// later (armExpiry); a timeout context makes a timer, and a context
// registration to interrupt the read, per call.
func (c *Client) CallTimeout(ctx context.Context, method string, args []byte, timeout time.Duration) ([]byte, error) {
	return c.call(ctx, method, args, time.Now().Add(timeout).UnixNano())
}

func (c *Client) call(ctx context.Context, method string, args []byte, expires int64) ([]byte, error) {
	call := callPool.Get().(*callrt.Call)
	call.Method, call.Expires = method, expires
	res, gaveUp, err := c.wait(ctx, c.start(ctx, call, args))
	*call = callrt.Call{Done: call.Done}
	callPool.Put(call)
	if gaveUp || errors.Is(err, callrt.ErrExpired) {
		return nil, fmt.Errorf("uds: %s: %w", method, err)
	}
	return res, err
}

// callPool recycles the Calls (with their Done channels) of synchronous
// calls. Once wait has returned nothing refers to the Call: the pending
// table let go of it when it completed or was forgotten, whoever
// completed it is done with it, and its Done channel is empty (wait took
// the one completion sent, or none was).
var callPool = sync.Pool{New: func() any { return &callrt.Call{Done: make(chan *callrt.Call, 1)} }}

// wait waits for call's reply, reading replies itself whenever the reader
// role is free (callrt.Role). If ctx ends first the call is forgotten and
// gaveUp is true.
func (c *Client) wait(ctx context.Context, call *callrt.Call) (res []byte, gaveUp bool, err error) {
	return c.role.Wait(ctx, &c.pending, call, c.lead)
}

// lead reads replies, holding the reader role, until call completes or
// ctx ends. ctx's end interrupts a blocked read through the read deadline.
// A polling client arms that only when its read is about to park: most
// replies come within the polling window, and arming costs a context
// registration per call (with it, 8 polling callers made 40 % fewer calls).
func (c *Client) lead(ctx context.Context, call *callrt.Call) ([]byte, bool, error) {
	c.leadCtx = ctx
	defer c.disarm()
	c.armExpiry()
	if c.opts.Poll <= 0 {
		c.arm() // a blocking read parks at once
	}
	for {
		select {
		case <-call.Done:
			return call.Result, false, call.Err
		default:
		}
		err := c.readOne()
		switch {
		case err == nil:
			if ctx.Err() != nil && c.pending.Forget(call.ID) {
				return nil, true, ctx.Err()
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Ours, left behind by an earlier caller's context, or a
			// call's Expires: clear it, expire what is due, re-arm.
			c.clearDeadline()
			if ctx.Err() != nil && c.pending.Forget(call.ID) {
				return nil, true, ctx.Err()
			}
			c.armExpiry()
		default:
			c.end(err) // completes every pending call, ours too
		}
	}
}

// arm makes the role holder's ctx's end interrupt its read.
func (c *Client) arm() {
	if c.leadStop == nil && c.leadCtx != nil && c.leadCtx.Done() != nil {
		c.leadStop = context.AfterFunc(c.leadCtx, c.interrupt)
	}
}

// armExpiry completes the calls whose Expires passed and makes the read
// deadline the next Expires. It never moves the deadline later: one set
// for a call that has since completed only wakes the reader early once,
// which is cheaper than setting it per call. If it expired calls, the
// deadline goes to the past, so the lead loop sees what completed.
func (c *Client) armExpiry() {
	if !c.pending.Expiring() {
		return
	}
	seen := c.earlier.Load()
	n, next := c.pending.Expire(time.Now().UnixNano())
	switch a := c.armed.Load(); {
	case n > 0:
		c.armed.Store(0)
		_ = c.c.SetReadDeadline(aLongTimeAgo)
		return
	case next == 0:
		return
	case a != 0 && a <= next:
	default:
		c.armed.Store(next)
		_ = c.c.SetReadDeadline(time.Unix(0, next))
	}
	// A call that expires earlier may have registered after the scan,
	// and its wake-up may have come before the deadline just set; so may
	// the context's end.
	if c.earlier.Load() != seen || c.leadCtx != nil && c.leadCtx.Err() != nil {
		c.interrupt()
	}
}

// clearDeadline clears the read deadline, whatever set it.
func (c *Client) clearDeadline() {
	_ = c.c.SetReadDeadline(time.Time{})
	c.armed.Store(0)
}

func (c *Client) disarm() {
	if c.leadStop != nil {
		c.leadStop()
		c.leadStop = nil
	}
	c.leadCtx = nil
}

// readOne reads one reply and completes its call; the caller holds the role.
func (c *Client) readOne() error {
	body, err := c.fr.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: the server closed the connection", ErrClosed)
		}
		return err
	}
	_, rep, err := callrt.Decode(body)
	if err == nil && rep == nil {
		err = fmt.Errorf("%w: the server sent a request frame", ErrMalformed)
	}
	if err != nil {
		return err
	}
	c.pending.CompleteReply(rep)
	return nil
}

// end ends the client with err: pending calls fail, the socket closes and
// the watcher stops.
func (c *Client) end(err error) {
	if !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	c.pending.Fail(err)
	c.endOnce.Do(func() {
		_ = c.c.Close()
		_ = c.hup.close()
		close(c.done)
	})
}

// Err returns the error that ended the client, or nil while it is usable.
func (c *Client) Err() error { return c.pending.Err() }

// Done is closed when the client's connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection, fails pending calls with ErrClosed and
// waits for the client's goroutines. It is idempotent.
func (c *Client) Close() error {
	c.end(ErrClosed)
	c.closeOnce.Do(func() {
		<-c.watchDone
		c.async.Wait()
	})
	return nil
}
