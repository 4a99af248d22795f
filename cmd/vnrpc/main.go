// Command vnrpc runs the vnrpc trading engine service and its tools.
// Run "vnrpc --help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vnrpc/vnrpc/bench"
	"github.com/vnrpc/vnrpc/cmd/vnrpc/internal/cli"
)

func main() {
	if bench.IsHelper() { // a process the benchmark suite started
		os.Exit(bench.HelperMain())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
