//go:build !linux

package uds

// On any other system the package is this file alone, and the import
// stops the build with internal/platform's one message: vnrpc runs on
// Linux only.
import _ "github.com/vnrpc/vnrpc/internal/platform"
