package lan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	zmq "github.com/pebbe/zmq4"
)

// Default ports, as in vn.py.
const (
	DefaultCallPort  = 2014
	DefaultEventPort = 4102
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
	// ErrNoServer: no server completed a handshake before the dial deadline.
	ErrNoServer = errors.New("lan: no server answered")
	// ErrBadAddr: the address is not tcp://HOST:PORT.
	ErrBadAddr = errors.New("lan: bad address")
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

// sender owns a PUSH socket: other goroutines hand it messages on a
// channel, and it passes them to the loop goroutine's PULL. Closing out
// makes it send a final empty message (the loop's cue to stop) and exit.
func sender(addr string, out <-chan [][]byte, done chan<- struct{}) error {
	push, err := zmq.NewSocket(zmq.PUSH)
	if err != nil {
		return err
	}
	_ = push.SetLinger(0)
	_ = push.SetSndhwm(0)
	if err := push.Connect(addr); err != nil {
		_ = push.Close()
		return err
	}
	go func() {
		defer close(done)
		defer push.Close()
		for m := range out {
			_, _ = push.SendMessage(m)
		}
		_, _ = push.SendMessage("") // stop
	}()
	return nil
}
