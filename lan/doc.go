//go:build linux

// Package lan carries vnrpc's calls and events between machines over
// ZeroMQ TCP (github.com/pebbe/zmq4, cgo over libzmq): calls on a ROUTER
// (server) / DEALER (client) pair, events on a second such pair: a client
// subscribes after each handshake, and the server sends each event to
// every subscribed connection (nothing while nobody subscribes) and keeps
// nothing else from what peers send that port. Default ports are
// vn.py's: 2014 for calls, 4102 for events. It knows messages, not trading
// objects: the messages are the call protocol's (docs/protocol.md), the
// same as the uds transport's, and events carry the ring's sequence numbers, so a
// subscriber detects every gap (ZeroMQ drops silently at its high-water
// mark; the gap tells).
//
// Security: with ServerCurve the server's sockets use CURVE and a ZAP
// handler admits only the authorized client keys; a client with an
// unknown key, the wrong server key or no CURVE gets ErrAuth from Dial
// (read from the socket monitor's handshake events, not a silent
// timeout), with what to fix; a client without CURVE whose peer drops
// the handshake (another service on the port) gets ErrHandshake. Binding a non-loopback address without CURVE is refused with
// ErrInsecure unless Insecure is set, which logs a warning. `vnrpc keys`
// writes key pairs; ReadKeys and ReadAuthorized read them.
//
// Goroutines: one loop goroutine per Server or Client owns its ZeroMQ
// sockets (they are not safe for concurrent use); calls and Publish hand
// messages to it through an inproc PUSH/PULL pair. Handlers run on
// goroutines of their own. Close on either stops and waits for every
// goroutine it started and is idempotent. The ZAP handler of pebbe/zmq4 is
// process-wide; servers share it by reference count, each in its own
// domain.
package lan
