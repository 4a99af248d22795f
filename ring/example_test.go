//go:build linux

package ring_test

import (
	"errors"
	"fmt"

	"github.com/vnrpc/vnrpc/ring"
)

// A writer and a reader over a heap buffer: the reader gets every record
// in order, with its sequence number, then ErrClosed once the writer
// closed and everything was read. Across processes the buffer is a
// shared-memory segment's bytes (package shm).
func Example() {
	buf := make([]byte, ring.Size(4096))
	w, err := ring.NewWriter(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := ring.NewReader(buf, ring.ReaderOptions{Start: ring.StartOldest})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, msg := range []string{"tick", "order", "trade"} {
		if _, err := w.Write(1, []byte(msg)); err != nil {
			fmt.Println(err)
			return
		}
	}
	_ = w.Close()
	var dst []byte
	for {
		rec, err := r.Next(dst)
		if errors.Is(err, ring.ErrClosed) {
			fmt.Println("closed")
			return
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%d: %s\n", rec.Seq, rec.Payload)
		dst = rec.Payload
	}
	// Output:
	// 0: tick
	// 1: order
	// 2: trade
	// closed
}

// A reader that falls a lap behind is told how many records it lost and
// resumes at the newest one; it never sees a torn record.
func ExampleLapError() {
	buf := make([]byte, ring.Size(ring.MinCapacity))
	w, _ := ring.NewWriter(buf)
	r, _ := ring.NewReader(buf, ring.ReaderOptions{Start: ring.StartOldest})
	for i := range 100 { // 100 records of 24+40 bytes: more than a lap of 1024 bytes
		_, _ = w.Write(1, fmt.Appendf(make([]byte, 0, 40), "record %-33d", i))
	}
	_, _, err := r.TryNext(nil)
	var lap *ring.LapError
	if errors.As(err, &lap) {
		fmt.Println("lost", lap.Lost)
	}
	rec, ok, _ := r.TryNext(nil)
	fmt.Println(ok, rec.Seq)
	// Output:
	// lost 99
	// true 99
}
