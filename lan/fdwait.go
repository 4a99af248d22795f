//go:build linux

package lan

import (
	"errors"

	zmq "github.com/pebbe/zmq4"
	"golang.org/x/sys/unix"
)

// fdWait waits for two ZeroMQ sockets with one poll(2) of their ZMQ_FDs,
// for loops that ask ZMQ_EVENTS themselves. zmq_poll asks ZMQ_EVENTS of
// every socket before and after its poll, and on an idle socket each ask
// is a poll(2) and a getpid(2) of its own: a call over tcp made ten
// poll(2)s on each side through zmq_poll, where REQ/REP makes five.
//
// A ZMQ_FD is edge-triggered: it turns readable when commands reach the
// socket's mailbox, and stays unreadable once any operation on the socket
// has processed them, even while messages wait. So a loop may wait only
// on sockets whose last operation told it nothing waits: a ZMQ_EVENTS
// without POLLIN, or a receive that failed with EAGAIN (both process the
// mailbox first). idle tracks that per socket; any other operation on a
// socket clears its flag.
//
// No wait is unbounded: wait returns after at most maxWait, and then
// clears both flags, so the loop asks ZMQ_EVENTS again. A wake-up lost
// to a mistake in the tracking costs at most maxWait, never a hang
// (TestMissedEdgeIsBounded forces one).
type fdWait struct {
	fds  [2]unix.PollFd
	idle [2]bool // by slot: callSock, pullSock
}

// The slots of fdWait: the call socket (ROUTER or DEALER), and the inproc
// PULL through which other goroutines hand the loop work.
const (
	callSock = 0
	pullSock = 1
)

func newFdWait(call, pull *zmq.Socket) (*fdWait, error) {
	w := &fdWait{}
	for i, s := range [2]*zmq.Socket{callSock: call, pullSock: pull} {
		fd, err := s.GetFd()
		if err != nil {
			return nil, err
		}
		w.fds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	return w, nil
}

// maxWait bounds every wait, in milliseconds.
const maxWait = 100

// wait blocks until a socket's ZMQ_FD turns readable, or for timeoutMs
// (at most maxWait; -1 means maxWait), and clears the idle flag of each
// socket that did, or of both when the time ran out. Both sockets must be
// idle.
func (w *fdWait) wait(timeoutMs int) error {
	if timeoutMs < 0 || timeoutMs > maxWait {
		timeoutMs = maxWait
	}
	for i := range w.fds {
		w.fds[i].Revents = 0
	}
	n, err := unix.Poll(w.fds[:], timeoutMs)
	if err != nil && !errors.Is(err, unix.EINTR) {
		return err
	}
	for i := range w.fds {
		if w.fds[i].Revents != 0 || n == 0 {
			w.idle[i] = false
		}
	}
	return nil
}

// isEAGAIN reports whether a non-blocking ZeroMQ operation found nothing
// to do (pebbe/zmq4's errors are zmq.Errno, not syscall.Errno).
func isEAGAIN(err error) bool { return zmq.AsErrno(err) == zmq.Errno(unix.EAGAIN) }
