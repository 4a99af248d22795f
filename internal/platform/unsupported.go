//go:build !linux

package platform

// vnrpc runs on Linux only: see the package comment.
const _ = vnrpc_runs_on_linux_only
