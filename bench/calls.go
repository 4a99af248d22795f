//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vnrpc/vnrpc/internal/benchkit"
	"github.com/vnrpc/vnrpc/rpc"
)

func init() {
	register(Scenario{Name: "calls", Desc: "call round trips to a server process (uds, uds-poll, tcp; 64 and 1024 B; 1 and 8 callers; uds-poll tuned with GOMAXPROCS=1, 64 B; closed loop, and open loop at 10 k/s over uds and 2 k/s over tcp) beside a unix-socket echo and ZeroMQ REQ/REP over tcp (each measured in blocks taken in turn with the one-caller 64 B case of uds or tcp, so that both see the same host), ZeroMQ REQ/REP over ipc, and gRPC unary over a unix socket",
		Units: func(quick bool) int { return len(callCases(quick)) + 4 }, Run: runCalls})
	registerHelper("rpc-server", rpcServer)
	registerHelper("unix-echo", unixEcho)
	registerHelper("zmq-rep", zmqRep)
}

type callCase struct {
	transport string
	size      int
	callers   int
	openRate  float64 // 0: closed loop
}

func callCases(quick bool) []callCase {
	var out []callCase
	sizes, callers := []int{64, 1024}, []int{1, 8}
	if quick {
		sizes, callers = []int{64}, []int{1}
	}
	for _, tr := range []string{"uds", "uds-poll", "uds-poll-tuned", "tcp"} {
		for _, s := range sizes {
			if tr == "uds-poll-tuned" && s != 64 {
				continue
			}
			for _, c := range callers {
				out = append(out, callCase{tr, s, c, 0})
			}
			// Open loop, below what one caller can sustain: the pacer spins
			// a core, so uds-poll (two more spinners) is left out.
			if !quick && !strings.HasPrefix(tr, "uds-poll") {
				out = append(out, callCase{tr, s, 1, map[string]float64{"uds": 10_000, "tcp": 2_000}[tr]})
			}
		}
	}
	return out
}

func callCount(quick bool) (n, warm int) {
	if quick {
		return 2000, 200
	}
	return 20000, 2000
}

// callServers are the server processes of the calls scenario, by case
// transport: where its callers dial.
type callServers map[string]rpc.ClientOptions

// startCallServers starts the plain, polling and tuned rpc servers.
func startCallServers(ps *procs, e *Env) (callServers, error) {
	s := callServers{}
	for _, sv := range []struct {
		name string
		env  []string
	}{{"rpc", nil}, {"rpcpoll", []string{"VNRPC_POLL=1"}}, {"rpctuned", []string{"VNRPC_POLL=1", tunedEnv}}} {
		p, err := ps.spawn("rpc-server", append([]string{"VNRPC_SOCK=" + filepath.Join(e.Dir, sv.name, "rpc.sock"),
			"VNRPC_SEGDIR=" + e.Dir}, sv.env...)...)
		if err != nil {
			return nil, err
		}
		ready, err := p.expect("ready", 30*time.Second)
		if err != nil {
			return nil, err
		}
		if len(ready) < 3 {
			return nil, fmt.Errorf("rpc-server said %q, want ready SOCKET CALLS", ready)
		}
		o := rpc.ClientOptions{Addr: ready[1], Heartbeat: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		switch sv.name {
		case "rpc":
			s["uds"] = o
			o.Addr, o.Transport = ready[2], rpc.TransportTCP
			s["tcp"] = o
		case "rpcpoll":
			o.Poll = 50 * time.Microsecond
			s["uds-poll"] = o
		case "rpctuned":
			o.Poll = 50 * time.Microsecond
			s["uds-poll-tuned"] = o
		}
	}
	return s, nil
}

func runCalls(ctx context.Context, e *Env) ([]Result, error) {
	n, warm := callCount(e.Quick)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ps procs
	defer ps.stop()
	servers, err := startCallServers(&ps, e)
	if err != nil {
		return nil, err
	}
	// The baselines that the one-caller 64-byte cases stand beside,
	// measured in blocks taken in turn with them (benchkit.Pair).
	echo, err := echoBaseline(ctx, &ps, e)
	if err != nil {
		return nil, err
	}
	reqrep, err := reqRepBaseline(ctx, &ps, e, "tcp")
	if err != nil {
		return nil, err
	}
	pairs := map[callCase]pairedBaseline{{"uds", 64, 1, 0}: {"unix-echo", echo}, {"tcp", 64, 1, 0}: {"zmq-reqrep-tcp", reqrep}}
	var out, paired []Result
	for _, c := range callCases(e.Quick) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r, br, err := callCaseRun(ctx, c, servers[c.transport], pairs[c], n, warm)
		if err != nil {
			return out, fmt.Errorf("calls %s: %w", c.transport, err)
		}
		out = append(out, r)
		if br != nil {
			paired = append(paired, *br)
		}
		e.Step()
	}
	for _, br := range paired {
		out = append(out, br)
		e.Step()
	}
	rs, err := unpairedBaselines(ctx, &ps, e, n, warm)
	return append(out, rs...), err
}

// pairedBaseline is a baseline measured in turn with one case.
type pairedBaseline struct {
	subject string
	call    func() error
}

// callCaseRun measures one case; a case with a paired baseline measures
// both in turn and returns the baseline's result too.
func callCaseRun(ctx context.Context, c callCase, o rpc.ClientOptions, base pairedBaseline, n, warm int) (Result, *Result, error) {
	cl, err := rpc.Dial(ctx, o)
	if err != nil {
		return Result{}, nil, err
	}
	defer cl.Close()
	payload := make([]byte, c.size)
	call := func() error { // a 10 s timeout, as the RPC gateway's calls carry
		_, err := cl.CallRawTimeout(ctx, "echo", payload, 10*time.Second)
		return err
	}
	if c.transport == "uds-poll-tuned" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	r := Result{Scenario: "calls", Subject: "rpc-" + c.transport, Size: c.size, Peers: c.callers, Mode: "closed"}
	if c.transport == "uds-poll-tuned" {
		r.Note = "GOMAXPROCS=1 in the server and the callers' process"
	}
	var h *Hist
	switch {
	case base.call != nil:
		var hb *Hist
		var rb float64
		h, hb, r.Rate, rb, err = benchkit.Pair(n, warm, 40, call, base.call)
		if err != nil {
			return r, nil, err
		}
		br := Result{Scenario: "calls", Subject: base.subject, Baseline: true, Size: 64, Peers: 1, Mode: "closed", Rate: rb,
			Note: fmt.Sprintf("measured in alternating blocks with rpc-%s, 64 B, 1 caller", c.transport)}
		r.Note = "measured in alternating blocks with " + base.subject
		fill(hb, &br)
		fill(h, &r)
		return r, &br, nil
	case c.openRate > 0:
		start := time.Now()
		h, err = benchkit.Open(n, warm, c.openRate, call)
		r.Mode, r.Rate = fmt.Sprintf("open@%.0f/s", c.openRate), float64(n+warm)/time.Since(start).Seconds()
	default:
		h, r.Rate, err = benchkit.Closed(c.callers, n, warm, call)
	}
	if err != nil {
		return r, nil, err
	}
	fill(h, &r)
	return r, nil, nil
}

// unpairedBaselines measures ZeroMQ REQ/REP over ipc and gRPC unary over
// a unix socket, one caller, 64 bytes.
func unpairedBaselines(ctx context.Context, ps *procs, e *Env, n, warm int) ([]Result, error) {
	var out []Result
	ipc, err := reqRepBaseline(ctx, ps, e, "ipc")
	if err != nil {
		return out, err
	}
	h, rate, err := benchkit.Closed(1, n, warm, ipc)
	if err != nil {
		return out, fmt.Errorf("zmq REQ/REP ipc: %w", err)
	}
	r := Result{Scenario: "calls", Subject: "zmq-reqrep-ipc", Baseline: true, Size: 64, Peers: 1, Mode: "closed", Rate: rate}
	fill(h, &r)
	out = append(out, r)
	e.Step()

	gpath := filepath.Join(e.Dir, "grpc.sock")
	gs, err := ps.spawn("grpc-echo", "VNRPC_SOCK="+gpath)
	if err != nil {
		return out, err
	}
	if _, err := gs.expect("ready", 30*time.Second); err != nil {
		return out, err
	}
	gcall, gclose, err := grpcClient(gpath)
	if err != nil {
		return out, err
	}
	defer gclose()
	gin, gout := make([]byte, 64), []byte(nil)
	h, rate, err = benchkit.Closed(1, n, warm, func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return gcall(cctx, &gin, &gout)
	})
	if err != nil {
		return out, fmt.Errorf("grpc baseline: %w", err)
	}
	r = Result{Scenario: "calls", Subject: "grpc-unary-uds", Baseline: true, Size: 64, Peers: 1, Mode: "closed", Rate: rate}
	fill(h, &r)
	out = append(out, r)
	e.Step()
	return out, nil
}

// rpcServer serves an inline "echo" over uds and tcp (poll with VNRPC_POLL=1).
func rpcServer() error {
	var poll time.Duration
	if os.Getenv("VNRPC_POLL") == "1" {
		poll = 50 * time.Microsecond
	}
	s := rpc.NewServer(rpc.ServerOptions{SocketPath: os.Getenv("VNRPC_SOCK"), SegmentDir: os.Getenv("VNRPC_SEGDIR"),
		SegmentPrefix: "vnrpc-bench-rpc", RingCapacity: 1 << 20, CallAddr: "tcp://127.0.0.1:*", EventAddr: "tcp://127.0.0.1:*",
		Poll: poll, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.HandleRaw("echo", func(_ context.Context, a []byte) ([]byte, error) { return a, nil }, rpc.Inline())
	if err := s.Start(); err != nil {
		return err
	}
	defer s.Stop()
	sock, calls, _ := s.Addrs()
	fmt.Println("ready", sock, calls)
	waitStdin()
	return nil
}

// unixEcho is the unix-socket echo baseline's process (benchkit.EchoServer).
func unixEcho() error {
	stop := make(chan struct{})
	go func() { waitStdin(); close(stop) }()
	return benchkit.EchoServer(os.Getenv("VNRPC_SOCK"), func() { fmt.Println("ready") }, stop)
}

// zmqRep is the REQ/REP baseline's process (benchkit.RepServer); it ends
// when stdin closes.
func zmqRep() error {
	go func() {
		waitStdin()
		os.Exit(0) // a REP blocked in recv cannot be woken otherwise
	}()
	addr := "tcp://127.0.0.1:*"
	if os.Getenv("VNRPC_TRANSPORT") == "ipc" {
		addr = "ipc://" + filepath.Join(os.Getenv("VNRPC_DIR"), "rep.ipc")
	}
	return benchkit.RepServer(addr, func(ep string) { fmt.Println("ready", ep) })
}

// reqRepBaseline starts a REP helper over ipc or tcp and returns a 64-byte
// REQ/REP round trip to it; the REQ socket closes when ctx ends.
func reqRepBaseline(ctx context.Context, ps *procs, e *Env, transport string) (func() error, error) {
	rep, err := ps.spawn("zmq-rep", "VNRPC_TRANSPORT="+transport, "VNRPC_DIR="+e.Dir)
	if err != nil {
		return nil, err
	}
	ready, err := rep.expect("ready", 30*time.Second)
	if err != nil {
		return nil, err
	}
	if len(ready) < 2 {
		return nil, fmt.Errorf("zmq-rep said %q, want ready ENDPOINT", ready)
	}
	call, closeFn, err := benchkit.ReqCaller(ready[1], 64)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { _ = closeFn() })
	return call, nil
}

// echoBaseline starts the unix-socket echo helper and returns a 64-byte
// round trip to it; the connection closes when ctx ends.
func echoBaseline(ctx context.Context, ps *procs, e *Env) (func() error, error) {
	path := filepath.Join(e.Dir, "echo.sock")
	echo, err := ps.spawn("unix-echo", "VNRPC_SOCK="+path)
	if err != nil {
		return nil, err
	}
	if _, err := echo.expect("ready", 30*time.Second); err != nil {
		return nil, err
	}
	call, closeFn, err := benchkit.EchoCaller(path, 64)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { _ = closeFn() })
	return call, nil
}
