//go:build linux

package uds

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// hangup waits for a socket's peer to hang up without reading it: an
// epoll instance watching the socket for EPOLLRDHUP only, itself waited on
// in Go's netpoller (an epoll fd is readable while it has events), so the
// wait holds no thread.
type hangup struct {
	f   *os.File
	raw syscall.RawConn
}

func newHangup(c *net.UnixConn) (*hangup, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	var cerr error
	craw, err := c.SyscallConn()
	if err == nil {
		err = craw.Control(func(fd uintptr) {
			cerr = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: unix.EPOLLRDHUP, Fd: int32(fd)})
		})
	}
	if err == nil && cerr == nil {
		cerr = unix.SetNonblock(ep, true) // so os.NewFile puts it in the netpoller
	}
	if err != nil || cerr != nil {
		_ = unix.Close(ep)
		return nil, errors.Join(err, os.NewSyscallError("epoll_ctl", cerr))
	}
	h := &hangup{f: os.NewFile(uintptr(ep), "uds-hangup")}
	if h.raw, err = h.f.SyscallConn(); err != nil {
		_ = h.f.Close()
		return nil, err
	}
	return h, nil
}

// wait returns nil once the peer has hung up, or os.ErrClosed after close.
func (h *hangup) wait() error {
	var ev [1]unix.EpollEvent
	var werr error
	err := h.raw.Read(func(fd uintptr) bool {
		n, err := unix.EpollWait(int(fd), ev[:], 0)
		switch {
		case err == unix.EINTR:
			return false
		case err != nil:
			werr = os.NewSyscallError("epoll_wait", err)
			return true
		}
		return n > 0
	})
	if err != nil {
		return err
	}
	return werr
}

// close ends a wait. It is idempotent.
func (h *hangup) close() error {
	if err := h.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
