package uds

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/vnrpc/vnrpc/internal/frame"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Client calls a Server over one connection. Any number of calls may be in
// flight at once, from any goroutines; replies are matched by id. A call
// whose context ends stops waiting and leaves the client usable (a late
// reply is dropped); the deadline travels with the request, and the server
// refuses to run a request whose deadline has passed. When the connection
// is lost every pending call fails with an error wrapping ErrClosed.
type Client struct {
	c    *net.UnixConn
	opts Options

	wmu  sync.Mutex
	wbuf bytes.Buffer
	enc  *msgpack.Encoder

	pending frame.Pending
	done    chan struct{}
}

// Call is one call in flight (frame.Call). Done receives it when it completes.
type Call = frame.Call

// Dial connects to the server at path. The client's reader goroutine runs
// until Close or the connection's end.
func Dial(ctx context.Context, path string, o Options) (*Client, error) {
	o.defaults()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("uds: dial %s: %w", path, err)
	}
	c := &Client{c: conn.(*net.UnixConn), opts: o, done: make(chan struct{})}
	c.enc = msgpack.NewEncoder(&c.wbuf)
	go c.read()
	return c, nil
}

// Go starts a call and returns at once; done (buffered; nil: a new one)
// receives the Call when it completes. ctx's deadline travels with the
// request; ctx's end does not cancel a call started with Go.
func (c *Client) Go(ctx context.Context, method string, args []byte, done chan *Call) *Call {
	call, ok := c.pending.Add(method, done)
	if !ok {
		return call
	}
	deadline := frame.Deadline(ctx)
	c.wmu.Lock()
	b, err := encodeRequest(&c.wbuf, c.enc, &Request{ID: call.ID, Method: method, Deadline: deadline, Args: args})
	if err == nil && len(b)-lenPrefix > c.opts.MaxFrame {
		err = fmt.Errorf("%w: request of %d bytes, limit %d", ErrFrameTooLarge, len(b)-lenPrefix, c.opts.MaxFrame)
	}
	if err == nil {
		if _, err = c.c.Write(b); err != nil {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
	}
	c.wmu.Unlock()
	if err != nil {
		c.pending.Complete(call.ID, nil, err)
	}
	return call
}

// Call makes a call and waits for its reply or ctx's end. A remote
// failure is a *RemoteError.
func (c *Client) Call(ctx context.Context, method string, args []byte) ([]byte, error) {
	call := c.Go(ctx, method, args, make(chan *Call, 1))
	if c.opts.Poll > 0 {
		for end := time.Now().Add(c.opts.Poll); time.Now().Before(end); {
			select {
			case <-call.Done:
				return call.Result, call.Err
			default:
			}
		}
	}
	res, err, gaveUp := c.pending.Wait(ctx, call)
	if gaveUp {
		return nil, fmt.Errorf("uds: %s: %w", method, err)
	}
	return res, err
}

func (c *Client) read() {
	defer close(c.done)
	r := bufio.NewReaderSize(reader(c.c, c.opts.Poll), 64<<10)
	var buf []byte
	var err error
	for {
		var body []byte
		if body, err = readFrame(r, buf, c.opts.MaxFrame); err != nil {
			break
		}
		buf = body
		var rep *Reply
		if _, rep, err = decodeFrame(body); err == nil && rep == nil {
			err = fmt.Errorf("%w: the server sent a request frame", ErrMalformed)
		}
		if err != nil {
			break
		}
		c.pending.CompleteReply(rep)
	}
	c.fail(err)
}

// fail ends the client with err and fails every pending call.
func (c *Client) fail(err error) {
	if !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	c.pending.Fail(err)
	_ = c.c.Close()
}

// Err returns the error that ended the client, or nil while it is usable.
func (c *Client) Err() error { return c.pending.Err() }

// Done is closed when the client's connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection, fails pending calls with ErrClosed and
// waits for the reader goroutine. It is idempotent.
func (c *Client) Close() error {
	c.pending.Fail(ErrClosed)
	_ = c.c.Close()
	<-c.done
	return nil
}
