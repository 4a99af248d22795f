//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/vnrpc/vnrpc/shm"
)

// A producer creates a segment and marks it closed when it stops; a
// consumer opens it by name, sees the same bytes, and learns from Alive
// that the producer is gone.
func Example() {
	dir, err := shm.MkdirTemp("example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	o := shm.Options{Dir: dir}

	name := shm.Name("demo", shm.NewEpoch())
	producer, err := shm.Create(name, 4096, o)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer producer.Unlink()
	defer producer.Close()
	copy(producer.Bytes(), "hello")

	consumer, err := shm.Open(name, o)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer consumer.Close()
	fmt.Printf("%s, %d bytes, same epoch: %v\n", consumer.Bytes()[:5], consumer.Info().Capacity,
		consumer.Info().Epoch == producer.Info().Epoch)
	fmt.Println("alive:", consumer.Alive(0) == nil)
	producer.MarkClosed()
	fmt.Println("gone:", errors.Is(consumer.Alive(0), shm.ErrGone))
	// Output:
	// hello, 4096 bytes, same epoch: true
	// alive: true
	// gone: true
}
