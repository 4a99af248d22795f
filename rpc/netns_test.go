package rpc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/internal/proc"
)

// helperNetnsClient dials VNRPC_ADDR with transport auto and prints the
// transport it got and the result of a call.
func helperNetnsClient() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, ClientOptions{Addr: os.Getenv("VNRPC_ADDR"), EventAddr: os.Getenv("VNRPC_EVENTS"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println("dial error:", err)
		return 1
	}
	defer c.Close()
	r, err := Call[addResp](ctx, c, "add", addReq{20, 22})
	tr, _ := c.Transport()
	fmt.Printf("transport=%s sum=%d err=%v\n", tr, r.Sum, err)
	return 0
}

// run runs a command and fails the test on error.
func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// A client on the same machine but in another network namespace is not
// "local": it has its own loopback, so auto must choose TCP. The test
// makes its own namespace and veth pair (root and iproute2 needed) with
// addresses only inside them, and removes them afterwards.
func TestAutoChoosesTCPFromAnotherNetworkNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("a network namespace of its own: the full tier")
	}
	if os.Getuid() != 0 {
		t.Skip("creating a network namespace needs root; this test runs in CI as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) is not installed; scripts/deps.sh installs it")
	}
	id := os.Getpid() % 100000
	ns, host, peer := fmt.Sprintf("vnrpc-t%d", id), fmt.Sprintf("vnA%d", id), fmt.Sprintf("vnB%d", id)
	hostIP, peerIP := "10.231.7.1", "10.231.7.2"
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", host).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	run(t, "ip", "link", "set", peer, "netns", ns)
	run(t, "ip", "addr", "add", hostIP+"/24", "dev", host)
	run(t, "ip", "link", "set", host, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", peerIP+"/24", "dev", peer)
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

	s := NewServer(ServerOptions{SocketPath: sockPath(t), SegmentDir: segDir(t), RingCapacity: 1 << 20,
		CallAddr: "tcp://" + hostIP + ":*", EventAddr: "tcp://" + hostIP + ":*", Insecure: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	Handle(s, "add", func(_ context.Context, r addReq) (addResp, error) { return addResp{Sum: r.A + r.B}, nil })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	_, calls, events := s.Addrs()

	// From this namespace, the same address gives the local transport.
	c, err := Dial(within(t), ClientOptions{Addr: calls, EventAddr: events})
	if err != nil {
		t.Fatal(err)
	}
	if tr, _ := c.Transport(); tr != TransportLocal {
		t.Errorf("same namespace: transport %v, want local", tr)
	}
	_ = c.Close()

	exe, _ := os.Executable()
	cl := proc.StartCommand(t, exec.Command("ip", "netns", "exec", ns, exe), proc.Options{MergeStderr: true,
		Env: []string{proc.HelperEnv("netns-client"), "VNRPC_ADDR=" + calls, "VNRPC_EVENTS=" + events}})
	if err := cl.Wait(); err != nil {
		t.Fatalf("client in %s: %v\n%s", ns, err, cl.Tail(20))
	}
	if out := cl.Tail(20); !strings.Contains(out, "transport=tcp sum=42 err=<nil>") {
		t.Fatalf("client in another namespace: %s", out)
	}
}
