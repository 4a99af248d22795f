// Command client is vn.py's simple_rpc/test_client.py in Go: it prints the
// server's published messages and calls add(1, 3) every 2 seconds.
//
//	go run ./examples/simple_rpc/client [tcp://localhost:2014]
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vnrpc/vnrpc/rpc"
)

// AddRequest is add's argument: [a, b].
type AddRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
	A, B     float64
}

func main() {
	addr := "tcp://localhost:2014"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := rpc.Dial(ctx, rpc.ClientOptions{Addr: addr,
		OnEvent: func(e rpc.Event) { fmt.Printf("client received topic:%d, data:%s\n", e.Type, e.Payload) }})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	tr, _ := c.Transport()
	fmt.Println("connected over", tr)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		sum, err := rpc.Call[float64](callCtx, c, "add", AddRequest{A: 1, B: 3})
		cancel()
		if err != nil {
			fmt.Println("add:", err)
		} else {
			fmt.Printf("add(1, 3) = %g\n", sum)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
