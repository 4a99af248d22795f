//go:build linux

package uds

import (
	"io"
	"net"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reader returns c itself, or with poll > 0 a pollReader that spins on
// the non-blocking socket for up to poll before parking in the netpoller
// (calling park, if set, first).
func reader(c *net.UnixConn, poll time.Duration, park func()) io.Reader {
	if poll <= 0 {
		return c
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return c
	}
	p := &pollReader{raw: raw, poll: poll, park: park}
	p.fn = p.try
	return p
}

// pollReader's Read is used by one goroutine at a time (the reader role's
// holder, or a server connection's reader), so it keeps its state in
// fields: no closure to allocate per read.
type pollReader struct {
	raw  syscall.RawConn
	poll time.Duration
	park func()
	fn   func(fd uintptr) bool // p.try, made once

	b    []byte
	n    int
	rerr error
	end  time.Time
}

func (p *pollReader) Read(b []byte) (int, error) {
	p.b, p.n, p.rerr, p.end = b, 0, nil, time.Now().Add(p.poll)
	err := p.raw.Read(p.fn)
	n, rerr := p.n, p.rerr
	p.b, p.rerr = nil, nil
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// try reads what the socket has; false means park until it is readable.
func (p *pollReader) try(fd uintptr) bool {
	for {
		p.n, p.rerr = unix.Read(int(fd), p.b)
		if p.rerr == unix.EINTR {
			continue
		}
		if p.rerr == unix.EAGAIN {
			if time.Now().Before(p.end) {
				runtime.Gosched() // let callers this process just completed run: they may be about to send
				continue
			}
			p.n, p.rerr = 0, nil
			if p.park != nil {
				p.park()
			}
			return false
		}
		if p.n < 0 {
			p.n = 0
		}
		return true
	}
}
