// Package cli implements the vnrpc command: flag parsing, configuration and
// the Run functions of its subcommands. cmd/vnrpc only calls Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// ErrUsage marks errors in the command line or the config file; Main exits
// with status 2 for them.
var ErrUsage = errors.New("usage error")

const topUsage = `vnrpc shares one trading engine between many processes (a Go re-imagining
of vn.py's RPC service).

Usage:
  vnrpc <command> [flags]

Commands:
  server   run a trading engine on an exchange gateway (the simulated one by default) and serve it
  client   connect a main engine to a server through the RPC gateway
  bench    run the latency benchmark suite (the vnrpc-bench program)
  keys     generate a CURVE key pair for the LAN transport
  help     show this help

Run "vnrpc <command> --help" for the flags of a command.
`

// Main runs the vnrpc command with args (without the program name) and
// returns the process exit status: 0 success, 1 failure, 2 usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return 0
	case "server":
		err = serverCmd(ctx, args[1:], stdout, stderr)
	case "client":
		err = clientCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		err = benchCmd(args[1:])
	case "keys":
		err = keysCmd(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "vnrpc: unknown command %q\n\n%s", args[0], topUsage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "vnrpc %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "vnrpc %s: %v\n", args[0], err)
		return 1
	}
}

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}
