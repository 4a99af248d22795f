package uds

import (
	"io"
	"net"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reader returns c itself, or with poll > 0 a reader that spins on the
// non-blocking socket for up to poll before parking in the netpoller.
func reader(c *net.UnixConn, poll time.Duration) io.Reader {
	if poll <= 0 {
		return c
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return c
	}
	return &pollReader{raw: raw, poll: poll}
}

type pollReader struct {
	raw  syscall.RawConn
	poll time.Duration
}

func (p *pollReader) Read(b []byte) (int, error) {
	var n int
	var rerr error
	end := time.Now().Add(p.poll)
	err := p.raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), b)
			if rerr == unix.EINTR {
				continue
			}
			if rerr == unix.EAGAIN {
				if time.Now().Before(end) {
					runtime.Gosched() // let callers this process just completed run: they may be about to send
					continue
				}
				return false // park until readable
			}
			return true
		}
	})
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
