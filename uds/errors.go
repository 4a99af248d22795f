//go:build linux

package uds

import (
	"errors"

	"github.com/vnrpc/vnrpc/calls"
)

// Errors callers branch on (with errors.Is).
var (
	// ErrMalformed marks every frame that fails to decode (it is calls.ErrMalformed).
	ErrMalformed = calls.ErrMalformed
	// ErrFrameTooLarge: a frame exceeds the size limit.
	ErrFrameTooLarge = errors.New("uds: frame too large")
	// ErrClosed: the client or server was closed, or the connection was lost.
	ErrClosed = errors.New("uds: connection closed")
	// ErrAddrInUse: a live server already listens on the socket path.
	ErrAddrInUse = errors.New("uds: address in use")
	// ErrUnsafeDir: the socket's directory may be entered by other users.
	ErrUnsafeDir = errors.New("uds: socket directory not private")
)
