package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"

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

func runCalls(ctx context.Context, e *Env) ([]Result, error) {
	n, warm := callCount(e.Quick)
	ctx, cancel := context.WithCancel(ctx) // closes the baselines' client sockets
	defer cancel()
	var out []Result
	var ps procs
	defer ps.stop()
	srv, err := ps.spawn("rpc-server", "VNRPC_SOCK="+filepath.Join(e.Dir, "rpc", "rpc.sock"), "VNRPC_SEGDIR="+e.Dir)
	if err != nil {
		return nil, err
	}
	ready, err := srv.expect("ready", 30*time.Second)
	if err != nil {
		return nil, err
	}
	sock, calls := ready[1], ready[2]
	pollSrv, err := ps.spawn("rpc-server", "VNRPC_SOCK="+filepath.Join(e.Dir, "rpcpoll", "rpc.sock"),
		"VNRPC_SEGDIR="+e.Dir, "VNRPC_POLL=1")
	if err != nil {
		return nil, err
	}
	pready, err := pollSrv.expect("ready", 30*time.Second)
	if err != nil {
		return nil, err
	}
	// The tuned setup (README, "Low latency"): GOMAXPROCS=1 in the server
	// and, while its cases run, in the callers' process.
	tunedSrv, err := ps.spawn("rpc-server", "VNRPC_SOCK="+filepath.Join(e.Dir, "rpctuned", "rpc.sock"),
		"VNRPC_SEGDIR="+e.Dir, "VNRPC_POLL=1", tunedEnv)
	if err != nil {
		return nil, err
	}
	tready, err := tunedSrv.expect("ready", 30*time.Second)
	if err != nil {
		return nil, err
	}
	// The baselines that the targets compare with, unix-socket echo for uds
	// and REQ/REP over tcp for tcp, are measured in alternating blocks with
	// the one-caller 64-byte case of their transport (measurePair).
	echoCall, err := unixEchoCaller(ctx, &ps, e)
	if err != nil {
		return out, err
	}
	zmqCall, err := zmqReqCaller(ctx, &ps, e, "tcp")
	if err != nil {
		return out, err
	}
	pairs := map[callCase]func() error{{"uds", 64, 1, 0}: echoCall, {"tcp", 64, 1, 0}: zmqCall}
	var paired []Result
	for _, c := range callCases(e.Quick) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		o := rpc.ClientOptions{Addr: sock, Heartbeat: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		switch c.transport {
		case "uds-poll":
			o.Addr, o.Poll = pready[1], 50*time.Microsecond
		case "uds-poll-tuned":
			o.Addr, o.Poll = tready[1], 50*time.Microsecond
		case "tcp":
			o.Addr, o.Transport = calls, rpc.TransportTCP
		}
		cl, err := rpc.Dial(ctx, o)
		if err != nil {
			return out, err
		}
		payload := make([]byte, c.size)
		call := func() error { // a 10 s timeout, as the RPC gateway's calls carry
			_, err := cl.CallRawTimeout(ctx, "echo", payload, 10*time.Second)
			return err
		}
		procs := runtime.GOMAXPROCS(0)
		if c.transport == "uds-poll-tuned" {
			runtime.GOMAXPROCS(1)
		}
		var r Result
		if base := pairs[c]; base != nil {
			var br Result
			r, br, err = measurePair(n, warm, 40, call, base)
			br.Scenario, br.Baseline, br.Size, br.Peers = "calls", true, 64, 1
			br.Subject = map[string]string{"uds": "unix-echo", "tcp": "zmq-reqrep-tcp"}[c.transport]
			br.Note = fmt.Sprintf("measured in alternating blocks with rpc-%s, 64 B, 1 caller", c.transport)
			r.Note = "measured in alternating blocks with " + br.Subject
			paired = append(paired, br)
		} else {
			r, err = measureCalls(c.callers, n, warm, c.openRate, call)
		}
		runtime.GOMAXPROCS(procs)
		_ = cl.Close()
		if err != nil {
			return out, fmt.Errorf("calls %s: %w", c.transport, err)
		}
		r.Scenario, r.Subject, r.Size, r.Peers = "calls", "rpc-"+c.transport, c.size, c.callers
		if c.transport == "uds-poll-tuned" {
			r.Note = "GOMAXPROCS=1 in the server and the callers' process"
		}
		out = append(out, r)
		e.Step()
	}
	// Baselines: the paired ones, then ZeroMQ REQ/REP over ipc.
	for _, br := range paired {
		out = append(out, br)
		e.Step()
	}
	ipcCall, err := zmqReqCaller(ctx, &ps, e, "ipc")
	if err != nil {
		return out, err
	}
	r, err := measureCalls(1, n, warm, 0, ipcCall)
	if err != nil {
		return out, fmt.Errorf("zmq REQ/REP ipc: %w", err)
	}
	r.Scenario, r.Subject, r.Baseline, r.Size, r.Peers = "calls", "zmq-reqrep-ipc", true, 64, 1
	out = append(out, r)
	e.Step()
	// gRPC unary over a unix socket.
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
	r, err = measureCalls(1, n, warm, 0, func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return gcall(cctx, &gin, &gout)
	})
	if err != nil {
		return out, fmt.Errorf("grpc baseline: %w", err)
	}
	r.Scenario, r.Subject, r.Baseline, r.Size, r.Peers = "calls", "grpc-unary-uds", true, 64, 1
	out = append(out, r)
	e.Step()
	return out, nil
}

// measureCalls makes n calls from `callers` goroutines, closed loop; or,
// with openRate > 0 and one caller, open loop at that rate, each latency
// measured from the call's intended start (so a stall counts for every
// call it delays). The first warm calls per caller are not recorded.
func measureCalls(callers, n, warm int, openRate float64, call func() error) (Result, error) {
	per := max(n/callers, 1)
	hists := make([]*Hist, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range callers {
		hists[i] = NewHist()
		wg.Add(1)
		go func(h *Hist) {
			defer wg.Done()
			if openRate > 0 {
				var err error
				pace(per+warm, openRate, func(j int, due int64) {
					if err != nil {
						return
					}
					err = call()
					if j >= warm {
						h.Record(nanotime() - due)
					}
				})
				if err != nil {
					errs <- err
				}
				return
			}
			for j := range per + warm {
				t0 := nanotime()
				if err := call(); err != nil {
					errs <- err
					return
				}
				if j >= warm {
					h.Record(nanotime() - t0)
				}
			}
		}(hists[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return Result{}, err
	}
	all := NewHist()
	for _, h := range hists {
		all.Merge(h)
	}
	r := Result{Mode: "closed", Rate: float64(callers*(per+warm)) / elapsed.Seconds()}
	if openRate > 0 {
		r.Mode = fmt.Sprintf("open@%.0f/s", openRate)
	}
	all.Fill(&r)
	return r, nil
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

// unixEcho echoes 4-byte-length-prefixed messages on a unix socket.
func unixEcho() error {
	ln, err := net.Listen("unix", os.Getenv("VNRPC_SOCK"))
	if err != nil {
		return err
	}
	go func() {
		waitStdin()
		_ = ln.Close()
	}()
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			buf := make([]byte, 1<<16)
			for {
				if _, err := io.ReadFull(r, buf[:4]); err != nil {
					return
				}
				n := int(buf[0]) | int(buf[1])<<8
				if _, err := io.ReadFull(r, buf[4:4+n]); err != nil {
					return
				}
				if _, err := c.Write(buf[:4+n]); err != nil {
					return
				}
			}
		}()
	}
}

// zmqReqCaller starts a REP helper over ipc or tcp and returns a 64-byte
// REQ/REP round trip to it; the REQ socket closes when ctx ends.
func zmqReqCaller(ctx context.Context, ps *procs, e *Env, transport string) (func() error, error) {
	rep, err := ps.spawn("zmq-rep", "VNRPC_TRANSPORT="+transport, "VNRPC_DIR="+e.Dir)
	if err != nil {
		return nil, err
	}
	zr, err := rep.expect("ready", 30*time.Second)
	if err != nil {
		return nil, err
	}
	req, err := zmq.NewSocket(zmq.REQ)
	if err != nil {
		return nil, err
	}
	_ = req.SetLinger(0)
	if err := req.Connect(zr[1]); err != nil {
		_ = req.Close()
		return nil, err
	}
	context.AfterFunc(ctx, func() { _ = req.Close() })
	zmsg := make([]byte, 64)
	return func() error {
		if _, err := req.SendBytes(zmsg, 0); err != nil {
			return err
		}
		_, err := req.RecvBytes(0)
		return err
	}, nil
}

// unixEchoCaller starts the unix-socket echo helper and returns a 64-byte
// round trip to it; the connection closes when ctx ends.
func unixEchoCaller(ctx context.Context, ps *procs, e *Env) (func() error, error) {
	path := filepath.Join(e.Dir, "echo.sock")
	echo, err := ps.spawn("unix-echo", "VNRPC_SOCK="+path)
	if err != nil {
		return nil, err
	}
	if _, err := echo.expect("ready", 30*time.Second); err != nil {
		return nil, err
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { _ = conn.Close() })
	msg := make([]byte, 4+64)
	msg[0] = 64
	in := make([]byte, len(msg))
	return func() error {
		if _, err := conn.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(conn, in)
		return err
	}, nil
}

// measurePair measures a and b, one caller each, closed loop, in blocks
// taken in turn (a b, b a, a b, …), each block after a short warm-up:
// both see the same host. On this shared 2-vCPU VM the cost of a
// wake-up drifts by up to 2× from one minute to the next, so the ratio
// of two measurements taken minutes apart measures the drift as much as
// the two paths.
func measurePair(n, warm, blocks int, a, b func() error) (ra, rb Result, err error) {
	per, bwarm := max(n/blocks, 1), max(warm/blocks, 50)
	ha, hb := NewHist(), NewHist()
	var ta, tb time.Duration
	run := func(call func() error, h *Hist, spent *time.Duration) error {
		for range bwarm {
			if err := call(); err != nil {
				return err
			}
		}
		start := time.Now()
		for range per {
			t0 := nanotime()
			if err := call(); err != nil {
				return err
			}
			h.Record(nanotime() - t0)
		}
		*spent += time.Since(start)
		return nil
	}
	for i := range blocks {
		first, second := func() error { return run(a, ha, &ta) }, func() error { return run(b, hb, &tb) }
		if i%2 == 1 {
			first, second = second, first
		}
		if err := first(); err != nil {
			return ra, rb, err
		}
		if err := second(); err != nil {
			return ra, rb, err
		}
	}
	ra = Result{Mode: "closed", Rate: float64(per*blocks) / ta.Seconds()}
	rb = Result{Mode: "closed", Rate: float64(per*blocks) / tb.Seconds()}
	ha.Fill(&ra)
	hb.Fill(&rb)
	return ra, rb, nil
}

// zmqRep answers every REQ with its own message until stdin closes.
func zmqRep() error {
	rep, err := zmq.NewSocket(zmq.REP)
	if err != nil {
		return err
	}
	addr := "tcp://127.0.0.1:*"
	if os.Getenv("VNRPC_TRANSPORT") == "ipc" {
		addr = "ipc://" + filepath.Join(os.Getenv("VNRPC_DIR"), "rep.ipc")
	}
	if err := rep.Bind(addr); err != nil {
		return err
	}
	ep, _ := rep.GetLastEndpoint()
	fmt.Println("ready", ep)
	go func() {
		waitStdin()
		os.Exit(0) // a REP blocked in recv cannot be woken otherwise
	}()
	for {
		msg, err := rep.RecvBytes(0)
		if err != nil {
			return nil
		}
		if _, err := rep.SendBytes(msg, 0); err != nil {
			return nil
		}
	}
}
