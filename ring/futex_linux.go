//go:build linux

package ring

import (
	"syscall"
	"time"
	"unsafe"
)

// The futex word lives in the (possibly shared) ring, so these are the
// process-shared operations (no FUTEX_PRIVATE_FLAG).
const (
	futexWaitOp = 0 // FUTEX_WAIT
	futexWakeOp = 1 // FUTEX_WAKE
)

// futexWait sleeps while *addr == val, for at most d.
func futexWait(addr uintptr, val uint32, d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, addr, futexWaitOp, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes every sleeper on addr.
func futexWake(addr uintptr) {
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, addr, futexWakeOp, uintptr(1<<31-1), 0, 0, 0)
}
