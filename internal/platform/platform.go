//go:build linux

// Package platform stops a build of vnrpc for any system but Linux with
// one clear message. vnrpc uses futexes (the event ring's sleeping
// readers), epoll and SO_PEERCRED (the unix socket), madvise with
// MADV_POPULATE_* and /dev/shm (the shared-memory segment) and /proc (a
// dead producer, the host identity). Every package that uses them
// builds for Linux only and, elsewhere, imports this package, whose one
// file for other systems does not compile.
package platform
