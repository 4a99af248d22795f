package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vnrpc/vnrpc/rpc"
	"github.com/vnrpc/vnrpc/shm"
)

type addArgs struct{ A, B int }

// A server with one typed method and a published event, and a client on
// the same host: it dials the server's socket, receives the event through
// shared memory and calls the method over the unix socket. A handler's
// error comes back as a *rpc.RemoteError with the code it chose.
func Example() {
	dir, err := shm.MkdirTemp("rpc-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	s := rpc.NewServer(rpc.ServerOptions{SocketPath: filepath.Join(dir, "sock", "rpc.sock"), SegmentDir: dir,
		RingCapacity: 1 << 20, Logger: quiet})
	rpc.Handle(s, "add", func(_ context.Context, a addArgs) (int, error) {
		if a.A < 0 || a.B < 0 {
			return 0, rpc.Errorf(rpc.CodeBadRequest, "add takes non-negative numbers")
		}
		return a.A + a.B, nil
	})
	if err := s.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	socket, _, _ := s.Addrs()
	c, err := rpc.Dial(ctx, rpc.ClientOptions{Addr: socket, Logger: quiet,
		OnEvent: func(e rpc.Event) { got <- fmt.Sprintf("event %d: %s", e.Type, e.Payload) }})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	tr, _ := c.Transport()
	fmt.Println("transport:", tr)

	if _, err := s.Publish(7, []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-got)

	sum, err := rpc.Call[int](ctx, c, "add", addArgs{2, 3})
	fmt.Println("add:", sum, err)
	_, err = rpc.Call[int](ctx, c, "add", addArgs{-1, 3})
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		fmt.Println("refused:", re.Code, "-", re.Msg)
	}
	// Output:
	// transport: local
	// event 7: hello
	// add: 5 <nil>
	// refused: bad request - add takes non-negative numbers
}
