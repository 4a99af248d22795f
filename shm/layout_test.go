//go:build linux

package shm

import (
	"testing"

	"github.com/vnrpc/vnrpc/internal/testutil"
)

// Every offset of the segment header is the one docs/protocol.md gives,
// and every row there is a field here.
func TestHeaderMatchesTheProtocolDoc(t *testing.T) {
	testutil.CheckLayout(t, testutil.LayoutTable(t, "../docs/protocol.md", "**Segment header**"), map[string]int{
		"magic": offMagic, "version": offVersion, "header_size": offHeaderSize, "epoch": offEpoch,
		"capacity": offCapacity, "creator_pid": offPID, "created": offCreated, "heartbeat": offHeartbeat,
		"closed": offClosed})
}
