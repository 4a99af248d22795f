// Command vnrpc runs a trading engine and serves it to other processes
// (vnrpc server), connects to one (vnrpc client), makes CURVE keys (vnrpc
// keys) and runs the benchmark suite (vnrpc bench, the vnrpc-bench
// program). Run "vnrpc help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vnrpc/vnrpc/cmd/vnrpc/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
