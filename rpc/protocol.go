package rpc

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vnrpc/vnrpc/calls"
	"github.com/vnrpc/vnrpc/internal/mp"
)

// ProtocolVersion is the version of the call protocol and hello exchange
// this build speaks (docs/protocol.md). A server refuses a client of
// another version, and the client reports ErrVersion.
const ProtocolVersion = 2

// Built-in methods every server answers (docs/protocol.md §5).
const (
	MethodHello = "rpc.hello"
	MethodPing  = "rpc.ping"
)

// Errors callers branch on (with errors.Is).
var (
	// ErrVersion: client and server speak different protocol versions.
	ErrVersion = errors.New("rpc: protocol version mismatch")
	// ErrDisconnected: the client has no live connection right now (it is
	// reconnecting); the call was not sent.
	ErrDisconnected = errors.New("rpc: disconnected from the server")
	// ErrClosed: the client or server was closed.
	ErrClosed = errors.New("rpc: closed")
	// ErrNotRunning: the server is not started.
	ErrNotRunning = errors.New("rpc: server not running")
)

// The call protocol's reply codes and remote error (package calls), here
// so that a user of rpc needs no other import. A handler chooses the code
// its caller sees with Errorf; any other error is CodeApp.
const (
	CodeOK               = calls.CodeOK
	CodeUnknownMethod    = calls.CodeUnknownMethod
	CodeDeadlineExceeded = calls.CodeDeadlineExceeded
	CodeBadRequest       = calls.CodeBadRequest
	CodeInternal         = calls.CodeInternal
	CodeApp              = calls.CodeApp
	CodeShutdown         = calls.CodeShutdown
	CodeTimedOut         = calls.CodeTimedOut
	CodeVersionMismatch  = calls.CodeVersionMismatch
)

// Code classifies a reply (calls.Code).
type Code = calls.Code

// RemoteError is a call's failure as the server reported it (calls.RemoteError).
type RemoteError = calls.RemoteError

// Errorf returns an error a handler returns to choose the code its caller
// sees; any other error is CodeApp with the error's text.
func Errorf(code Code, format string, a ...any) error { return calls.Errorf(code, format, a...) }

// hello is what a client sends first (docs/protocol.md §5).
type hello struct {
	Version  int    `msgpack:"version"`
	ClientID string `msgpack:"client_id"`
	Host     string `msgpack:"host"`
	PID      int    `msgpack:"pid"`
}

// welcome is the server's answer to hello: how to reach it locally.
type welcome struct {
	Version     int    `msgpack:"version"`
	Epoch       uint64 `msgpack:"epoch"`        // random per server start
	Host        string `msgpack:"host"`         // HostID of the server
	Socket      string `msgpack:"socket"`       // unix socket path for calls
	Segment     string `msgpack:"segment"`      // shared-memory segment name
	SegmentDir  string `msgpack:"segment_dir"`  // where segments live
	HeartbeatMs int64  `msgpack:"heartbeat_ms"` // the server's heartbeat interval
	ServerPID   int    `msgpack:"server_pid"`
	LastSeq     uint64 `msgpack:"last_seq"`   // sequence number of the next event
	EventPort   int    `msgpack:"event_port"` // the LAN event port (0: no LAN)
}

// ping is the client's heartbeat, with what it knows of its event stream.
type ping struct {
	ClientID string `msgpack:"client_id"`
	Seq      uint64 `msgpack:"seq"` // next sequence number it expects
	Laps     uint64 `msgpack:"laps"`
	Lost     uint64 `msgpack:"lost"`
}

// pong answers a ping.
type pong struct {
	Epoch   uint64 `msgpack:"epoch"`
	NextSeq uint64 `msgpack:"next_seq"`
}

var (
	hostOnce sync.Once
	hostID   string
)

// HostID identifies this machine, boot and network namespace: two
// processes with the same HostID can share a unix socket and memory and
// see the same loopback. A process in another network namespace of the
// same machine gets a different id, and so talks TCP.
func HostID() string {
	hostOnce.Do(func() {
		h := sha256.New()
		for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id", "/proc/sys/kernel/random/boot_id"} {
			if b, err := os.ReadFile(p); err == nil {
				h.Write([]byte(strings.TrimSpace(string(b))))
			}
		}
		if ns, err := os.Readlink("/proc/self/ns/net"); err == nil {
			h.Write([]byte(ns))
		}
		if name, err := os.Hostname(); err == nil {
			h.Write([]byte(name))
		}
		hostID = hex.EncodeToString(h.Sum(nil)[:12])
	})
	return hostID
}

// unmarshal is msgpack.Unmarshal for bytes from a peer: declared sizes are
// checked against the message first, since the decoder would allocate a
// bin's declared length before reading it (internal/mp).
func unmarshal(b []byte, v any) error {
	if err := mp.Bounded(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}
