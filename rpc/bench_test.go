package rpc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/internal/benchkit"
	"github.com/vnrpc/vnrpc/internal/proc"
	"github.com/vnrpc/vnrpc/shm"
)

// Cross-process call benchmarks. The server runs in another process (the
// test binary re-executed as a helper); the callers here measure each
// round trip and report percentiles and calls/s.
//
//	go test ./rpc -run '^$' -bench Call -benchtime 20000x
//
// Baselines in the same run: a plain Go unix-socket echo between two
// processes, and ZeroMQ REQ/REP over loopback TCP (pebbe/zmq4).
//
// transport=uds-poll-tuned is uds-poll with GOMAXPROCS=1 in both
// processes (the low-latency setup of a small host).
//
// VNRPC_SERVER_PROCS sets the server process's GOMAXPROCS apart from the
// callers' (GOMAXPROCS): on the 2-vCPU VM the uds p50 was 70 µs with 2/2,
// 65 µs with server 1, 55 µs with client 1, and 23 µs with 1/1, the echo's
// figure. The cost is cross-P wake-ups from goroutine hand-offs on both
// sides (server reader -> handler goroutine, client reader -> caller).

func init() {
	proc.Register("server", helperServer)
	proc.Register("echo", helperEcho)
	proc.Register("zmq-rep", helperZmqRep)
	proc.Register("netns-client", helperNetnsClient)
}

func TestMain(m *testing.M) {
	proc.Main()
	os.Exit(m.Run())
}

// exitOnStdinEOF ends a helper process when its parent closes stdin.
func exitOnStdinEOF() {
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// helperServer runs an rpc server with an echo method until stdin closes.
func helperServer() int {
	// Diagnostic knob: the server's GOMAXPROCS, apart from the caller's.
	if n, err := strconv.Atoi(os.Getenv("VNRPC_SERVER_PROCS")); err == nil && n > 0 {
		runtime.GOMAXPROCS(n)
	}
	var poll time.Duration
	if os.Getenv("VNRPC_POLL") == "1" {
		poll = benchPoll()
	}
	if us, err := strconv.Atoi(os.Getenv("VNRPC_SERVER_POLL_US")); err == nil { // diagnostic knob
		poll = time.Duration(us) * time.Microsecond
	}
	s := NewServer(ServerOptions{SocketPath: os.Getenv("VNRPC_SOCK"), SegmentDir: os.Getenv("VNRPC_SEGDIR"),
		RingCapacity: 1 << 20, CallAddr: "tcp://127.0.0.1:*", EventAddr: "tcp://127.0.0.1:*", Poll: poll,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.HandleRaw("echo", func(_ context.Context, a []byte) ([]byte, error) { return a, nil }, Inline())
	if err := s.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if f := os.Getenv("VNRPC_SERVER_CPUPROFILE"); f != "" { // diagnostic knob
		if out, err := os.Create(f); err == nil && pprof.StartCPUProfile(out) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	_, calls, events := s.Addrs()
	fmt.Println("ready", calls, events)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.Stop()
	return 0
}

// helperEcho is the unix-socket echo baseline (benchkit.EchoServer).
func helperEcho() int {
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	if err := benchkit.EchoServer(os.Getenv("VNRPC_SOCK"), func() { fmt.Println("ready") }, stop); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperZmqRep is the REQ/REP baseline over tcp (benchkit.RepServer).
func helperZmqRep() int {
	go exitOnStdinEOF()
	if err := benchkit.RepServer("tcp://127.0.0.1:*", func(ep string) { fmt.Println("ready", ep) }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startProc starts a helper and returns the fields of its "ready" line
// after "ready"; the helper stops when the benchmark ends.
func startProc(b *testing.B, name string, vars ...string) []string {
	b.Helper()
	c := proc.StartHelper(b, name, proc.Options{Env: vars})
	b.Cleanup(func() { _ = c.Stop(10 * time.Second) })
	return c.MustExpect(b, "ready", 30*time.Second)[1:]
}

// measure runs b.N calls spread over callers goroutines and reports the
// round trips' percentiles and calls/s.
func measure(b *testing.B, callers int, call func() error) {
	b.ResetTimer()
	h, rate, err := benchkit.Closed(callers, b.N, 200, call)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	benchkit.Report(b, h)
	b.ReportMetric(rate, "calls/s")
}

// measurePair runs b.N calls of call and of base, one caller each, in
// 40 blocks taken in turn (benchkit.Pair), and reports each side's p50
// and p99 and the ratio of the p50s.
func measurePair(b *testing.B, call, base func() error) {
	b.ResetTimer()
	hc, hb, _, _, err := benchkit.Pair(b.N, 4000, 40, call, base)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(hc.Quantile(50)), "p50-ns")
	b.ReportMetric(float64(hc.Quantile(99)), "p99-ns")
	b.ReportMetric(float64(hb.Quantile(50)), "baseline-p50-ns")
	b.ReportMetric(float64(hb.Quantile(99)), "baseline-p99-ns")
	b.ReportMetric(float64(hc.Quantile(50))/float64(hb.Quantile(50)), "x-baseline-p50")
}

func BenchmarkCall(b *testing.B) {
	for _, tr := range []string{"uds", "uds-poll", "uds-poll-tuned", "tcp"} {
		for _, size := range []int{64, 1024} {
			for _, callers := range []int{1, 8} {
				b.Run(fmt.Sprintf("transport=%s/size=%d/callers=%d", tr, size, callers), func(b *testing.B) {
					if tr == "uds-poll-tuned" {
						// The tuned setup (README, "Low latency"): one thread
						// per process, here and in the server.
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
					}
					call := benchClient(b, tr, size)
					measure(b, callers, call)
				})
			}
		}
	}
}

// benchClient starts a server process for transport tr and returns a
// call of size bytes to it.
func benchClient(b *testing.B, tr string, size int) func() error {
	dir, err := shm.MkdirTemp("rpcb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	poll, procs := "0", os.Getenv("VNRPC_SERVER_PROCS")
	if strings.HasPrefix(tr, "uds-poll") {
		poll = "1"
	}
	if tr == "uds-poll-tuned" {
		procs = "1"
	}
	sock := filepath.Join(dir, "s")
	ready := startProc(b, "server", "VNRPC_SOCK="+sock, "VNRPC_SEGDIR="+dir, "VNRPC_POLL="+poll,
		"VNRPC_SERVER_PROCS="+procs)
	o := ClientOptions{Addr: sock, Heartbeat: time.Hour}
	switch tr {
	case "uds-poll", "uds-poll-tuned":
		o.Poll = benchPoll()
	case "tcp":
		o = ClientOptions{Addr: ready[0], EventAddr: ready[1], Transport: TransportTCP, Heartbeat: time.Hour}
	}
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := Dial(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	payload := make([]byte, size)
	return func() error { return benchCall(context.Background(), c, payload) }
}

func BenchmarkCallBaseline(b *testing.B) {
	b.Run("unixsocket-echo/size=64", func(b *testing.B) { measure(b, 1, echoClient(b)) })
	b.Run("zmq-reqrep/size=64", func(b *testing.B) { measure(b, 1, zmqClient(b)) })
}

// BenchmarkCallPaired measures a one-caller 64-byte call and its target's
// baseline in blocks taken in turn, so that both see the same host: on
// this shared 2-vCPU VM a wake-up's cost drifts by up to 2× between
// minutes, and BenchmarkCall's ratio to BenchmarkCallBaseline, measured
// minutes apart, carries that drift. It reports both p50s and their
// ratio (x-baseline-p50).
func BenchmarkCallPaired(b *testing.B) {
	b.Run("transport=uds/vs=unixsocket-echo/size=64", func(b *testing.B) {
		measurePair(b, benchClient(b, "uds", 64), echoClient(b))
	})
	b.Run("transport=tcp/vs=zmq-reqrep/size=64", func(b *testing.B) {
		measurePair(b, benchClient(b, "tcp", 64), zmqClient(b))
	})
}

// echoClient starts the plain unix-socket echo process and returns a
// 64-byte round trip to it.
func echoClient(b *testing.B) func() error {
	dir, err := shm.MkdirTemp("rpcb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "echo")
	startProc(b, "echo", "VNRPC_SOCK="+sock)
	call, closeFn, err := benchkit.EchoCaller(sock, 64)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = closeFn() })
	return call
}

// zmqClient starts the ZeroMQ REP process (tcp) and returns a 64-byte
// REQ/REP round trip to it.
func zmqClient(b *testing.B) func() error {
	ready := startProc(b, "zmq-rep")
	call, closeFn, err := benchkit.ReqCaller(ready[0], 64)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = closeFn() })
	return call
}

// benchCall makes one call bounded by 10 s as the RPC gateway's calls
// are: CallRawTimeout, no context timer. Diagnostic knob:
// VNRPC_BENCH_TIMEOUT=ctx bounds it with a context.WithTimeout per call
// instead (to see what that costs), =none not at all.
func benchCall(ctx context.Context, c *Client, payload []byte) error {
	switch os.Getenv("VNRPC_BENCH_TIMEOUT") {
	case "ctx":
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := c.CallRaw(ctx, "echo", payload)
		return err
	case "none":
		_, err := c.CallRaw(ctx, "echo", payload)
		return err
	}
	_, err := c.CallRawTimeout(ctx, "echo", payload, 10*time.Second)
	return err
}

// benchPoll is the polling window of the uds-poll case ($VNRPC_POLL_US, a
// diagnostic knob; default 50 µs).
func benchPoll() time.Duration {
	if us, err := strconv.Atoi(os.Getenv("VNRPC_POLL_US")); err == nil && us > 0 {
		return time.Duration(us) * time.Microsecond
	}
	return 50 * time.Microsecond
}
