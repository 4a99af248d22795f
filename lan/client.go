package lan

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/internal/frame"
)

// ClientCurve secures a client: its own key pair and the server's public key.
type ClientCurve struct {
	Keys         Keys
	ServerPublic string
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// CallAddr is the server's call endpoint (tcp://HOST:PORT). EventAddr,
	// if set, is its event endpoint, subscribed to everything.
	CallAddr, EventAddr string
	Curve               *ClientCurve
	// OnEvent receives each event on the client's loop goroutine: it must
	// return quickly. OnGap receives the number of events lost whenever
	// the sequence numbers jump.
	OnEvent func(frame.Event)
	OnGap   func(lost uint64)
	Logger  *slog.Logger
}

// Client calls a lan Server and receives its events. Calls may be made
// from any goroutines, many at once, matched by id; a call whose context
// ends stops waiting and leaves the client usable, and its deadline
// travels with the request (the server never runs a late request).
type Client struct {
	opts ClientOptions
	push *pusher // to the loop
	loop sync.WaitGroup
	hs   chan error // the first handshake's outcome

	pending frame.Pending
	mu      sync.Mutex // guards closing and sends on out
	closing bool
	once    sync.Once

	lastSeq uint64
	haveSeq bool
}

// Call is one call in flight (frame.Call); Done receives it when it completes.
type Call = frame.Call

// Dial connects to the server and waits for the security handshake of
// the call socket: a rejected key is ErrAuth, and no handshake before
// ctx's deadline (5 s if it has none) is ErrNoServer.
func Dial(ctx context.Context, o ClientOptions) (*Client, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if _, err := checkAddr(o.CallAddr); err != nil {
		return nil, err
	}
	if o.EventAddr != "" {
		if _, err := checkAddr(o.EventAddr); err != nil {
			return nil, err
		}
	}
	if o.Curve != nil {
		if checkKey(o.Curve.ServerPublic) != nil || checkKey(o.Curve.Keys.Public) != nil || checkKey(o.Curve.Keys.Secret) != nil {
			return nil, fmt.Errorf("lan: client CURVE: need the server's public key and a client key pair")
		}
	}
	c := &Client{opts: o, hs: make(chan error, 1)}
	if err := c.start(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	select {
	case err := <-c.hs:
		if err == nil {
			return c, nil
		}
		_ = c.Close()
		return nil, err
	case <-ctx.Done():
		_ = c.Close()
		return nil, fmt.Errorf("%w at %s: %w", ErrNoServer, o.CallAddr, ctx.Err())
	}
}

func (c *Client) start() (err error) {
	var socks []*zmq.Socket
	defer func() {
		if err != nil {
			for _, s := range socks {
				_ = s.Close()
			}
		}
	}()
	newSock := func(t zmq.Type) (*zmq.Socket, error) {
		s, err := zmq.NewSocket(t)
		if err != nil {
			return nil, err
		}
		socks = append(socks, s)
		_ = s.SetLinger(0)
		if c.opts.Curve != nil {
			k := c.opts.Curve
			if err := s.ClientAuthCurve(k.ServerPublic, k.Keys.Public, k.Keys.Secret); err != nil {
				return nil, fmt.Errorf("lan: CURVE: %w", err)
			}
		}
		return s, nil
	}
	dealer, err := newSock(zmq.DEALER)
	if err != nil {
		return err
	}
	monAddr := fmt.Sprintf("inproc://vnrpc-mon-%d", inprocSeq.Add(1))
	if err := dealer.Monitor(monAddr, zmq.EVENT_HANDSHAKE_SUCCEEDED|zmq.EVENT_HANDSHAKE_FAILED_AUTH|
		zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL|zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL); err != nil {
		return fmt.Errorf("lan: monitor: %w", err)
	}
	mon, err := zmq.NewSocket(zmq.PAIR)
	if err != nil {
		return err
	}
	socks = append(socks, mon)
	_ = mon.SetLinger(0)
	if err := mon.Connect(monAddr); err != nil {
		return err
	}
	if err := dealer.Connect(c.opts.CallAddr); err != nil {
		return fmt.Errorf("lan: connect %s: %w", c.opts.CallAddr, err)
	}
	var sub *zmq.Socket
	if c.opts.EventAddr != "" {
		if sub, err = newSock(zmq.SUB); err != nil {
			return err
		}
		_ = sub.SetRcvhwm(0)
		if err := sub.SetSubscribe(""); err != nil {
			return err
		}
		if err := sub.Connect(c.opts.EventAddr); err != nil {
			return fmt.Errorf("lan: connect %s: %w", c.opts.EventAddr, err)
		}
	}
	pull, inAddr, err := inprocPair("client")
	if err != nil {
		return err
	}
	socks = append(socks, pull)
	if c.push, err = newPusher(inAddr); err != nil {
		return err
	}
	c.loop.Add(1)
	go c.run(dealer, sub, pull, mon)
	return nil
}

func (c *Client) run(dealer, sub, pull, mon *zmq.Socket) {
	defer c.loop.Done()
	defer func() {
		for _, s := range []*zmq.Socket{dealer, sub, pull, mon} {
			if s != nil {
				_ = s.Close()
			}
		}
	}()
	poller := zmq.NewPoller()
	poller.Add(dealer, zmq.POLLIN)
	poller.Add(pull, zmq.POLLIN)
	poller.Add(mon, zmq.POLLIN)
	if sub != nil {
		poller.Add(sub, zmq.POLLIN)
	}
	handshook := false
	for {
		polled, err := poller.Poll(-1)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(4) { // EINTR
				continue
			}
			c.fail(fmt.Errorf("%w: poll: %w", ErrClosed, err))
			return
		}
		for _, p := range polled {
			switch p.Socket {
			case dealer:
				if msg, err := dealer.RecvMessageBytes(zmq.DONTWAIT); err == nil && len(msg) == 1 {
					c.reply(msg[0])
				}
			case sub:
				if msg, err := sub.RecvMessageBytes(zmq.DONTWAIT); err == nil && len(msg) == 1 {
					c.event(msg[0])
				}
			case mon:
				ev, _, val, err := mon.RecvEvent(zmq.DONTWAIT)
				if err != nil {
					continue
				}
				var herr error
				switch ev {
				case zmq.EVENT_HANDSHAKE_SUCCEEDED:
				case zmq.EVENT_HANDSHAKE_FAILED_AUTH:
					herr = fmt.Errorf("%w: the server at %s rejected this client's key (ZAP status %d)", ErrAuth, c.opts.CallAddr, val)
				default:
					herr = fmt.Errorf("%w: security handshake with %s failed (%v): wrong server key, or one side without CURVE",
						ErrAuth, c.opts.CallAddr, ev)
				}
				if !handshook {
					handshook = true
					c.hs <- herr
				} else if herr != nil {
					c.opts.Logger.Warn("lan: reconnect handshake failed", "err", herr)
				}
			case pull:
				msg, err := pull.RecvMessageBytes(zmq.DONTWAIT)
				if err != nil {
					continue
				}
				if len(msg) == 1 && len(msg[0]) == 0 {
					return // stop
				}
				if len(msg) == 3 {
					if _, err := dealer.SendBytes(msg[2], zmq.DONTWAIT); err != nil {
						c.pending.Complete(binary.LittleEndian.Uint64(msg[1]), nil,
							fmt.Errorf("%w: %w", ErrNoServer, err))
					}
				}
			}
		}
	}
}

func (c *Client) reply(body []byte) {
	_, rep, err := frame.Decode(body)
	if err != nil || rep == nil {
		c.opts.Logger.Warn("lan: dropping a malformed reply", "err", err)
		return
	}
	c.pending.CompleteReply(rep)
}

func (c *Client) event(body []byte) {
	e, err := frame.DecodeEvent(body)
	if err != nil {
		c.opts.Logger.Warn("lan: dropping a malformed event", "err", err)
		return
	}
	if c.haveSeq && e.Seq != c.lastSeq+1 && e.Seq > c.lastSeq && c.opts.OnGap != nil {
		c.opts.OnGap(e.Seq - c.lastSeq - 1)
	}
	c.lastSeq, c.haveSeq = e.Seq, true
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(*e)
	}
}

// Go starts a call; done (buffered; nil: a new one) receives it when it completes.
func (c *Client) Go(ctx context.Context, method string, args []byte, done chan *Call) *Call {
	call, ok := c.pending.Add(method, done)
	if !ok {
		return call
	}
	deadline := frame.Deadline(ctx)
	var buf bytes.Buffer
	b, err := frame.EncodeRequest(&buf, msgpack.NewEncoder(&buf), &frame.Request{ID: call.ID, Method: method,
		Deadline: deadline, Args: args})
	if err != nil {
		c.pending.Complete(call.ID, nil, err)
		return call
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		c.pending.Complete(call.ID, nil, ErrClosed)
		return call
	}
	if !c.push.send([][]byte{[]byte("q"), binary.LittleEndian.AppendUint64(nil, call.ID), b[frame.LenPrefix:]}) {
		c.pending.Complete(call.ID, nil, ErrClosed)
	}
	return call
}

// Call makes a call and waits for the reply or ctx's end.
func (c *Client) Call(ctx context.Context, method string, args []byte) ([]byte, error) {
	call := c.Go(ctx, method, args, nil)
	res, err, gaveUp := c.pending.Wait(ctx, call)
	if gaveUp {
		return nil, fmt.Errorf("lan: %s: %w", method, err)
	}
	return res, err
}

func (c *Client) fail(err error) { c.pending.Fail(err) }

// Close fails pending calls with ErrClosed, closes the sockets and waits
// for the client's goroutines. It is idempotent.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		if c.push != nil {
			c.push.close()
		}
		c.loop.Wait()
		c.fail(ErrClosed)
	})
	return nil
}

// Err is the error that ended the client, or nil.
func (c *Client) Err() error { return c.pending.Err() }
