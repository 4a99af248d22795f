//go:build linux

// Package uds carries calls over a unix domain socket: length-prefixed
// msgpack frames, many calls in flight on one connection matched by id, a
// deadline carried with each request, bounded frames and typed remote
// errors. It knows frames, not trading objects.
//
// Server:
//
//	var mux calls.Mux
//	mux.Handle("add", func(ctx context.Context, args []byte) ([]byte, error) { … })
//	srv, err := uds.Listen("/run/vnrpc/rpc.sock", &mux, uds.Options{})
//	defer srv.Close()
//
// Client:
//
//	c, err := uds.Dial(ctx, "/run/vnrpc/rpc.sock", uds.Options{})
//	res, err := c.Call(ctx, "add", args) // a *calls.RemoteError for remote failures
//
// Safety: the socket lives in a directory of the server's user with mode
// 0700 (Listen creates it, or refuses one open to others) and is itself
// 0600; on accept the server reads the peer's credentials (SO_PEERCRED)
// and refuses uids not in Options.AllowUIDs (default: its own), logging
// the reason. A socket file left by a dead server is replaced; a live
// server's is ErrAddrInUse.
//
// Deadlines: a call's context deadline travels with the request. The
// server checks it when the request's turn comes (at most MaxInFlight run
// at once per connection) and never runs a request whose deadline has
// passed: the caller gets calls.CodeDeadlineExceeded, which, like CodeTimedOut
// (the handler ran past it), matches errors.Is(err, context.DeadlineExceeded).
// A call that times out leaves the client usable.
//
// Frames (docs/protocol.md specifies them): a 4-byte little-endian length,
// then a msgpack array: [0, id, method, deadline_unix_ns, args] for a
// request and [1, id, code, message, result] for a reply. A peer that
// sends a malformed, truncated or oversize frame is disconnected and
// logged; other connections are unaffected.
//
// Options.Poll makes reads spin on the socket before parking and
// Client.Call poll for its reply, for callers that can spend a core.
//
// Server and Client are safe for concurrent use; Close on either is
// idempotent and waits for the goroutines it owns.
package uds
