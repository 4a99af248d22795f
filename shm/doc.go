//go:build linux

// Package shm manages named shared-memory segments: files under /dev/shm
// (a tmpfs; the directory is configurable) mapped into each process that
// uses them.
//
// A producer creates a segment, fills its Bytes (for vnrpc, a ring), beats
// its heartbeat while it lives, and marks it closed when it stops:
//
//	seg, err := shm.Create(shm.Name("vnrpc", epoch), size, shm.Options{})
//	defer seg.Unlink()
//	defer seg.Close()
//	go func() { for range ticker.C { seg.Beat() } }()
//
// Consumers open it by name, check it with Alive, and map the same bytes:
//
//	seg, err := shm.Open(name, shm.Options{})
//	if err := seg.Alive(3 * time.Second); err != nil { … }
//
// The first 4096 bytes of a segment are its header (see header.go): magic,
// layout version, epoch, capacity, creator pid, creation time, heartbeat and
// closed flag. Open validates it and returns an error wrapping
// ErrIncompatible on any mismatch. Segments are created 0600 and Open
// refuses one that others may write. A mapped file is never truncated or
// shrunk, so a reader can never take a SIGBUS from its producer; a new
// producer start uses a new name (a new epoch) instead of reusing a file.
// Stale and RemoveStale find and delete segments whose creator died or closed.
//
// A Segment's methods are safe for concurrent use; Close unmaps, so no
// other method may run during or after it.
package shm
