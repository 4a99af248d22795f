package uds

import (
	"errors"
	"fmt"
	"io"

	"github.com/vnrpc/vnrpc/internal/frame"
)

// DefaultMaxFrame bounds a frame's body unless Options say otherwise.
const DefaultMaxFrame = 4 << 20

// The call protocol's types, shared with the other transports.
type (
	Request     = frame.Request
	Reply       = frame.Reply
	Code        = frame.Code
	RemoteError = frame.RemoteError
)

// Reply codes (see frame.Code).
const (
	CodeOK               = frame.CodeOK
	CodeUnknownMethod    = frame.CodeUnknownMethod
	CodeDeadlineExceeded = frame.CodeDeadlineExceeded
	CodeBadRequest       = frame.CodeBadRequest
	CodeInternal         = frame.CodeInternal
	CodeApp              = frame.CodeApp
	CodeShutdown         = frame.CodeShutdown
	CodeTimedOut         = frame.CodeTimedOut
)

// Errorf returns an error a handler can return to choose the code its
// caller sees (CodeBadRequest, for example); other errors become CodeApp.
func Errorf(code Code, format string, a ...any) error { return frame.Errorf(code, format, a...) }

const lenPrefix = frame.LenPrefix

var (
	encodeRequest = frame.EncodeRequest
	encodeReply   = frame.EncodeReply
	decodeFrame   = frame.Decode
)

// readFrame reads one frame body into buf (grown as needed) and returns it.
// A body longer than max is ErrFrameTooLarge; the stream is then unusable.
func readFrame(r io.Reader, buf []byte, max int) ([]byte, error) {
	var p [lenPrefix]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return nil, err
	}
	n := int(uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24)
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: truncated frame: %w", ErrMalformed, err)
	}
	return buf, nil
}
