// Package testutil holds what several packages' tests share.
package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond (every millisecond) until it returns nil, and
// fails t with what and cond's last error if that takes longer than within.
// It is for conditions with no signal to wait on.
func Eventually(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %v", within, what, err)
		}
		time.Sleep(time.Millisecond) // the poll interval, not a wait for an event
	}
}
