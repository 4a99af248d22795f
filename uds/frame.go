//go:build linux

package uds

import (
	"errors"
	"fmt"
	"io"

	"github.com/vnrpc/vnrpc/internal/callrt"
)

// Frame limits unless Options say otherwise. Requests are small and come
// from peers the server does not control, so they get the tight bound;
// replies may be large (every contract of a big exchange: about 400 bytes
// each) and come from the server a client chose.
const (
	// DefaultMaxFrame bounds a request frame's body.
	DefaultMaxFrame = 4 << 20
	// DefaultMaxReply bounds a reply frame's body.
	DefaultMaxReply = 64 << 20
	// DefaultMaxQueued bounds the requests a server has read from one
	// connection and not yet answered.
	DefaultMaxQueued = 1024
)

const lenPrefix = callrt.LenPrefix

// frameReader reads length-prefixed frames from a stream into one buffer
// it owns. A read error (a deadline, say) leaves what was read in place,
// so next can be called again and resumes mid-frame.
type frameReader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int // buf[start:end] is read but not yet returned
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: r, max: max, buf: make([]byte, 64<<10)}
}

// complete reports whether a whole next frame is already read.
func (f *frameReader) complete() bool {
	if f.end-f.start < lenPrefix {
		return false
	}
	p := f.buf[f.start:]
	size := int(uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24)
	return f.end-f.start >= lenPrefix+size
}

// next returns the next frame's body, valid until the following call. A
// body longer than max is ErrFrameTooLarge and a stream ending mid-frame
// ErrMalformed; after either the stream is unusable. A clean end between
// frames is io.EOF.
func (f *frameReader) next() ([]byte, error) {
	for {
		need := lenPrefix
		if n := f.end - f.start; n >= lenPrefix {
			p := f.buf[f.start:]
			size := int(uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24)
			if size > f.max {
				return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, size, f.max)
			}
			if n >= lenPrefix+size {
				body := f.buf[f.start+lenPrefix : f.start+lenPrefix+size]
				f.start += lenPrefix + size
				if f.start == f.end {
					f.start, f.end = 0, 0
				}
				return body, nil
			}
			need = lenPrefix + size
		}
		if len(f.buf)-f.start < need { // make room: move the partial frame to the front, grow if needed
			if len(f.buf) < need {
				nb := make([]byte, max(need, 2*len(f.buf)))
				f.end = copy(nb, f.buf[f.start:f.end])
				f.buf = nb
			} else {
				f.end = copy(f.buf, f.buf[f.start:f.end])
			}
			f.start = 0
		}
		n, err := f.r.Read(f.buf[f.end:])
		f.end += n
		if err != nil {
			if n > 0 && !errors.Is(err, io.EOF) {
				continue // use what arrived; the error comes back on the next read
			}
			if errors.Is(err, io.EOF) {
				if n > 0 {
					continue
				}
				if f.end > f.start {
					return nil, fmt.Errorf("%w: truncated frame: %w", ErrMalformed, io.ErrUnexpectedEOF)
				}
			}
			return nil, err
		}
	}
}
