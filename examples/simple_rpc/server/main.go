// Command server is vn.py's simple_rpc/test_server.py in Go: the generic
// rpc layer alone, with a registered add(a, b) and a message published
// every 2 seconds.
//
//	go run ./examples/simple_rpc/server
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vnrpc/vnrpc/rpc"
)

// AddRequest is add's argument: [a, b].
type AddRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
	A, B     float64
}

// TopicTest is the event type of the periodic message.
const TopicTest = 1

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := rpc.NewServer(rpc.ServerOptions{
		SocketPath: filepath.Join(os.TempDir(), fmt.Sprintf("vnrpc-simple-%d", os.Getuid()), "rpc.sock"),
		CallAddr:   "tcp://127.0.0.1:2014", EventAddr: "tcp://127.0.0.1:4102", SegmentPrefix: "vnrpc-simple"})
	rpc.Handle(s, "add", func(_ context.Context, r AddRequest) (float64, error) {
		fmt.Printf("receiving: %g, %g\n", r.A, r.B)
		return r.A + r.B, nil
	})
	if err := s.Start(); err != nil {
		log.Fatal(err)
	}
	defer s.Stop()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			msg := fmt.Sprintf("current server time is %d", now.Unix())
			if _, err := s.Publish(TopicTest, []byte(msg)); err != nil {
				log.Print(err)
			}
		}
	}
}
