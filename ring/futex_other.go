//go:build !linux

package ring

import (
	"time"
)

// Without futexes, a blocked reader polls every 50µs: correct, slower to wake.
func futexWait(addr uintptr, val uint32, d time.Duration) { time.Sleep(min(d, 50*time.Microsecond)) }

func futexWake(addr uintptr) {}
