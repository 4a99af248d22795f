package frame

import (
	"context"
	"errors"
	"fmt"
)

// ErrMalformed marks every message that fails to decode.
var ErrMalformed = errors.New("frame: malformed message")

// Code classifies a remote error.
type Code int

// Codes on the wire; 0 is success.
const (
	CodeOK               Code = 0
	CodeUnknownMethod    Code = 1 // no handler for the method
	CodeDeadlineExceeded Code = 2 // the deadline passed before the handler ran; it did not run
	CodeBadRequest       Code = 3 // the handler could not decode its arguments
	CodeInternal         Code = 4 // the handler panicked or the server failed
	CodeApp              Code = 5 // the handler returned an error
	CodeShutdown         Code = 6 // the server is stopping and did not run the request
	CodeTimedOut         Code = 7 // the handler ran past the deadline (it may have had effects)
)

func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeUnknownMethod:
		return "unknown method"
	case CodeDeadlineExceeded:
		return "deadline exceeded"
	case CodeBadRequest:
		return "bad request"
	case CodeInternal:
		return "internal error"
	case CodeApp:
		return "application error"
	case CodeShutdown:
		return "server shutting down"
	case CodeTimedOut:
		return "timed out while running"
	}
	return fmt.Sprintf("code %d", int(c))
}

// RemoteError is an error the server returned for a call.
type RemoteError struct {
	Method string
	Code   Code
	Msg    string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("remote call %s: %s: %s", e.Method, e.Code, e.Msg)
}

// Timeout reports whether the call's deadline passed on the server:
// before it ran (CodeDeadlineExceeded: it did not run) or while it ran
// (CodeTimedOut).
func (e *RemoteError) Timeout() bool { return e.Code == CodeDeadlineExceeded || e.Code == CodeTimedOut }

// Is makes a remote timeout match context.DeadlineExceeded, like a local one.
func (e *RemoteError) Is(target error) bool { return target == context.DeadlineExceeded && e.Timeout() }

// Errorf returns an error a handler can return to choose the code its
// caller sees (CodeBadRequest, for example); other errors become CodeApp.
func Errorf(code Code, format string, a ...any) error {
	return &RemoteError{Code: code, Msg: fmt.Sprintf(format, a...)}
}
