//go:build linux

package lan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	zmq "github.com/pebbe/zmq4"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/internal/callrt"
)

// Default ports, as in vn.py.
const (
	DefaultCallPort  = 2014
	DefaultEventPort = 4102
)

// Message limits unless options say otherwise, uds's values: a request is
// bounded tightly (it comes from peers the server does not control), a
// reply or an event loosely (every contract of a big exchange is one
// reply, about 400 bytes each). A peer that sends a longer message is
// disconnected by ZeroMQ before the message is buffered (ZMQ_MAXMSGSIZE).
const (
	DefaultMaxMessage = 4 << 20  // a request
	DefaultMaxReply   = 64 << 20 // a reply or an event
)

// Errors callers branch on (with errors.Is).
var (
	// ErrInsecure: a non-loopback address without CURVE and without Insecure.
	ErrInsecure = errors.New("lan: refusing plaintext on the network")
	// ErrAuth: the server rejected this client's CURVE key (or the client
	// has the wrong server key).
	ErrAuth = errors.New("lan: authentication failed")
	// ErrClosed: the client or server was closed.
	ErrClosed = errors.New("lan: closed")
	// ErrHandshake: a client without CURVE reached a peer that dropped the
	// ZeroMQ handshake: not a vnrpc server (another service on the port).
	ErrHandshake = errors.New("lan: handshake failed")
	// ErrNoServer: no server completed a handshake before the dial deadline.
	ErrNoServer = errors.New("lan: no server answered")
	// ErrBadAddr: the address is not tcp://HOST:PORT.
	ErrBadAddr = errors.New("lan: bad address")
	// ErrTooLarge: a request exceeds the message size limit.
	ErrTooLarge = errors.New("lan: message too large")
)

// checkAddr accepts tcp://HOST:PORT (HOST may be *, an IP or a name) and
// reports whether it stays on this machine's loopback.
func checkAddr(addr string) (loopback bool, err error) {
	rest, ok := strings.CutPrefix(addr, "tcp://")
	if !ok {
		return false, fmt.Errorf("%w %q: want tcp://HOST:PORT", ErrBadAddr, addr)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || port == "" {
		return false, fmt.Errorf("%w %q: want tcp://HOST:PORT", ErrBadAddr, addr)
	}
	if host == "localhost" {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback(), nil
}

// The ZAP handler of pebbe/zmq4 is process-wide (it serves the default
// context's sockets); servers share it, each in a domain of its own.
var (
	authMu    sync.Mutex
	authUsers int
	domainSeq atomic.Uint64
)

func authAcquire() (domain string, err error) {
	authMu.Lock()
	defer authMu.Unlock()
	if authUsers == 0 {
		if err := zmq.AuthStart(); err != nil {
			return "", fmt.Errorf("lan: start ZAP handler: %w", err)
		}
	}
	authUsers++
	return fmt.Sprintf("vnrpc-%d", domainSeq.Add(1)), nil
}

func authRelease(domain string) {
	authMu.Lock()
	defer authMu.Unlock()
	zmq.AuthCurveRemoveAll(domain)
	authUsers--
	if authUsers == 0 {
		zmq.AuthStop()
	}
}

var inprocSeq atomic.Uint64

// inprocPair makes the PULL end (bound) that a loop goroutine polls and the
// address its PUSH peer connects to.
func inprocPair(name string) (*zmq.Socket, string, error) {
	addr := fmt.Sprintf("inproc://vnrpc-%s-%d", name, inprocSeq.Add(1))
	pull, err := zmq.NewSocket(zmq.PULL)
	if err != nil {
		return nil, "", err
	}
	_ = pull.SetLinger(0)
	if err := pull.Bind(addr); err != nil {
		_ = pull.Close()
		return nil, "", err
	}
	return pull, addr, nil
}

// pusher hands messages to a socket-owning loop through an inproc PUSH
// socket, used directly by the sending goroutine under a mutex (ZeroMQ
// allows a socket to move between threads with a full barrier between
// uses), so a send costs no goroutine hand-off. Closing sends the empty
// stop message.
type pusher struct {
	mu     sync.Mutex
	s      *zmq.Socket
	closed bool
}

func newPusher(addr string) (*pusher, error) {
	push, err := zmq.NewSocket(zmq.PUSH)
	if err != nil {
		return nil, err
	}
	_ = push.SetLinger(0)
	_ = push.SetSndhwm(0)
	if err := push.Connect(addr); err != nil {
		_ = push.Close()
		return nil, err
	}
	return &pusher{s: push}, nil
}

// send passes m to the loop; false once the pusher is closed.
func (p *pusher) send(m [][]byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	_, err := p.s.SendMessage(m)
	return err == nil
}

// close tells the loop to stop and closes the socket. It is idempotent,
// and it returns even if the loop has already ended (on a socket error)
// and closed its end: the stop message goes without waiting, since a
// PUSH with no peer would block for good, and with the peer there and
// no high-water mark it never has to wait.
func (p *pusher) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	_, _ = p.s.SendMessageDontwait("")
	_ = p.s.Close()
}

// Event is one published event: the ring's sequence number, record type
// and CLOCK_MONOTONIC timestamp, and the payload. On ZeroMQ it travels as
// [2, seq, type, timestamp, payload] (docs/protocol.md).
type Event struct {
	Seq       uint64
	Type      uint32
	Timestamp int64
	Payload   []byte
}

// maxPeers bounds the client identities a server remembers (calls.Peer
// per identity). ZeroMQ does not say when a ROUTER's peer leaves, so the
// least recently used half is forgotten when the bound is reached; a
// forgotten client that calls again gets a new Peer.
const maxPeers = 4096

// lanPeer is one client identity: its Peer and the context its calls get.
type lanPeer struct {
	id      []byte
	p       *calls.Peer
	ctx     context.Context
	used    uint64
	transit callrt.Transit // its requests' time on the way
}

// peerCache maps identities to peers; the server's loop owns it. The last
// peer is kept aside, so a stream of one client's calls costs no map
// look-up and no formatting.
type peerCache struct {
	m    map[string]*lanPeer
	last *lanPeer
	n    uint64 // calls seen, the clock of used
}

func (c *peerCache) get(id []byte, base context.Context) *lanPeer {
	c.n++
	if l := c.last; l != nil && string(l.id) == string(id) {
		l.used = c.n
		return l
	}
	if c.m == nil {
		c.m = map[string]*lanPeer{}
	}
	l, ok := c.m[string(id)]
	if !ok {
		if len(c.m) >= maxPeers {
			c.evict()
		}
		p := &calls.Peer{Transport: "tcp", Name: fmt.Sprintf("tcp/%x", id), UID: -1}
		l = &lanPeer{id: append([]byte(nil), id...), p: p, ctx: calls.NewContext(base, p)}
		c.m[string(l.id)] = l
	}
	l.used = c.n
	c.last = l
	return l
}

// evict forgets the least recently used half of the peers.
func (c *peerCache) evict() {
	used := make([]uint64, 0, len(c.m))
	for _, l := range c.m {
		used = append(used, l.used)
	}
	slices.Sort(used)
	cut := used[len(used)/2]
	for k, l := range c.m {
		if l.used < cut {
			delete(c.m, k)
		}
	}
}
