package shm

import (
	"runtime"
	"unsafe"
)

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func runtimeGosched() { runtime.Gosched() }
