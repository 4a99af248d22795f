// Command vnrpc-bench is vnrpc's latency benchmark suite (package bench):
// every path beside its baselines, measured in one run, with a report and
// charts. "vnrpc bench" runs it; it is a program of its own so that the
// production vnrpc binary does not carry the baselines' libraries (gRPC,
// the chart plotter).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/vnrpc/vnrpc/bench"
	"github.com/vnrpc/vnrpc/internal/proc"
)

func main() {
	proc.Main() // a process the suite started as one of its helpers
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "vnrpc bench: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "vnrpc bench: %v\n", err)
		os.Exit(1)
	}
}

// errUsage marks errors in the command line; the exit status is 2.
var errUsage = errors.New("usage error")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "compare" {
		return benchCompare(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a reduced set: one size, one peer count, fewer samples (under a minute)")
	list := fs.Bool("list", false, "list the scenarios and exit")
	only := fs.String("only", "", "comma-separated scenario names to run (see --list)")
	out := fs.String("out", "bench-out", "directory for results.json, machine.json, report.md and the charts")
	noBar := fs.Bool("no-progress", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: vnrpc bench [--quick] [--only NAME,...] [--out DIR]
       vnrpc bench --list
       vnrpc bench compare [--noise 0.25] OLD/results.json NEW/results.json

Runs vnrpc's latency benchmark suite on this machine: every path beside its
baselines in the same run, starting and stopping the processes each needs.
Results go to DIR: results.json, machine.json, report.md and latency and
throughput charts (SVG and PNG). Run it on a quiet machine.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *list {
		for _, s := range bench.Scenarios() {
			fmt.Fprintf(stdout, "%-9s %s\n", s.Name, s.Desc)
		}
		return nil
	}
	o := bench.Options{Quick: *quick, Only: *only}
	total, err := bench.Units(o)
	if err != nil {
		return usageErr("%v", err)
	}
	m := bench.DescribeMachine(*quick)
	fmt.Fprintf(stderr, "machine: %s\n", m)
	var bar *progressbar.ProgressBar
	if !*noBar {
		bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("bench"),
			progressbar.OptionShowCount(), progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish())
		o.Step = func(sc string) {
			bar.Describe(sc)
			_ = bar.Add(1)
		}
	}
	o.Logf = func(format string, a ...any) {
		if bar != nil {
			_ = bar.Clear()
		}
		fmt.Fprintf(stderr, format+"\n", a...)
	}
	start := time.Now()
	rep, runErr := bench.Run(ctx, o)
	if bar != nil {
		_ = bar.Finish()
	}
	rep.Machine = m
	files, err := bench.Write(*out, rep)
	if err != nil {
		return fmt.Errorf("bench: writing %s: %w", *out, err)
	}
	bench.Summary(stdout, rep.Results)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	fmt.Fprintf(stdout, "\n%d results in %v; wrote %s: %s\n", len(rep.Results), time.Since(start).Round(time.Second), *out,
		strings.Join(names, " "))
	return runErr
}

func benchCompare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noise := fs.Float64("noise", 0.25, "the run-to-run noise of p50, as a fraction (p99 gets twice as much)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	if fs.NArg() != 2 {
		return usageErr("compare needs OLD.json and NEW.json")
	}
	old, err := bench.Load(fs.Arg(0))
	if err != nil {
		return usageErr("%v", err)
	}
	cur, err := bench.Load(fs.Arg(1))
	if err != nil {
		return usageErr("%v", err)
	}
	bench.Compare(stdout, old, cur, *noise)
	return nil
}
