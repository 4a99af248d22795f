package ring

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnrpc/vnrpc/internal/proc"
	"github.com/vnrpc/vnrpc/shm"
)

// Multi-process tests re-exec the test binary (internal/proc): a helper
// runs instead of the tests, with its settings in VNRPC_* variables.
func init() {
	proc.Register("writer", helperWriter)
	proc.Register("reader", helperReader)
	proc.Register("bench-reader", helperBenchReader)
	proc.Register("bench-uds", helperBenchUDS)
}

func TestMain(m *testing.M) {
	proc.Main()
	os.Exit(m.Run())
}

func env(k string) string { return os.Getenv("VNRPC_" + k) }

func envInt(k string) int {
	n, _ := strconv.Atoi(env(k))
	return n
}

// shmDir is a fresh directory on /dev/shm (tmpfs) when there is one.
func shmDir(t testing.TB) string {
	d, err := os.MkdirTemp("/dev/shm", "vnrpc-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// child is a helper process.
type child struct{ *proc.Child }

func startHelper(t testing.TB, name string, vars map[string]string) *child {
	t.Helper()
	return startHelperFiles(t, name, vars, nil)
}

// startHelperFiles passes files to the helper as fds 3, 4 ….
func startHelperFiles(t testing.TB, name string, vars map[string]string, files []*os.File) *child {
	t.Helper()
	var e []string
	for k, v := range vars {
		e = append(e, "VNRPC_"+k+"="+v)
	}
	return &child{proc.StartHelper(t, name, proc.Options{Env: e, Files: files})}
}

// expect waits for a line with the prefix and returns the rest.
func (c *child) expect(t testing.TB, prefix string, d time.Duration) string {
	t.Helper()
	l := c.MustUntil(t, d, fmt.Sprintf("%q", prefix), func(l string) bool { return strings.HasPrefix(l, prefix) })
	return strings.TrimPrefix(l, prefix)
}

// helperWriter creates the segment and ring, says "created", waits for a
// line on stdin, writes VNRPC_COUNT checksummed records, then closes the
// ring (or, with VNRPC_HANG=1, says "written" and waits to be killed).
func helperWriter() int {
	o := shm.Options{Dir: env("DIR")}
	seg, err := shm.Create(env("SEG"), Size(envInt("CAP")), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w, err := NewWriter(seg.Bytes())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer seg.BeatEvery(100 * time.Millisecond)()
	fmt.Println("created")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 1
	}
	rng := rand.New(rand.NewPCG(5, 6))
	p := make([]byte, envInt("SIZE"))
	for s := range envInt("COUNT") {
		if _, err := w.Write(1, makeRecord(p, uint64(s), rng)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if env("HANG") == "1" {
		fmt.Println("written")
		select {} // until SIGKILL
	}
	_ = w.Close()
	seg.MarkClosed()
	return 0
}

// helperReader opens the segment, says "ready", reads until the ring
// closes and prints "result got=N lost=N laps=N". VNRPC_WAIT picks the wait
// strategy, VNRPC_VERIFY=1 checks every record's checksum, and VNRPC_STALL
// stalls for that many µs every 1000 records.
func helperReader() int {
	seg, err := shm.Open(env("SEG"), shm.Options{Dir: env("DIR")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer seg.Close()
	r, err := NewReader(seg.Bytes(), ReaderOptions{Start: StartOldest, Wait: Wait(envInt("WAIT")),
		Liveness: func() error { return seg.Alive(5 * time.Second) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	verify, stall := env("VERIFY") == "1", envInt("STALL")
	var got, lost, laps uint64
	dst := make([]byte, 0, 4096)
	for {
		rec, err := r.Next(dst)
		var lap *LapError
		switch {
		case errors.As(err, &lap):
			lost += lap.Lost
			laps++
			continue
		case errors.Is(err, ErrClosed):
			fmt.Printf("result got=%d lost=%d laps=%d\n", got, lost, laps)
			return 0
		case err != nil:
			fmt.Fprintln(os.Stderr, "reader:", err)
			return 1
		}
		if verify {
			if err := checkRecord(rec); err != nil {
				fmt.Fprintf(os.Stderr, "reader: record %d: %v\n", rec.Seq, err)
				return 1
			}
		}
		dst = rec.Payload
		got++
		if stall > 0 && got%1000 == 0 {
			for end := Nanotime() + int64(stall)*1000; Nanotime() < end; {
			}
		}
	}
}

func parseResult(t testing.TB, s string) (got, lost, laps uint64) {
	t.Helper()
	if _, err := fmt.Sscanf(s, "got=%d lost=%d laps=%d", &got, &lost, &laps); err != nil {
		t.Fatalf("bad result %q: %v", s, err)
	}
	return
}

// A writer process and reader processes over a real segment: every
// record arrives intact; a ring large enough for all of them loses none.
func TestCrossProcess(t *testing.T) {
	cases := []struct {
		name     string
		capacity int
		stall    int
		lossless bool
	}{
		{"lossless", 64 << 20, 0, true},
		{"stalled-readers-lapped", 64 << 10, 300, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const count = 200_000
			dir, seg := shmDir(t), shm.Name("ringtest", shm.NewEpoch())
			vars := map[string]string{"DIR": dir, "SEG": seg, "CAP": strconv.Itoa(c.capacity),
				"COUNT": strconv.Itoa(count), "SIZE": "200", "STALL": strconv.Itoa(c.stall), "VERIFY": "1"}
			w := startHelper(t, "writer", vars)
			w.expect(t, "created", 20*time.Second)
			var readers []*child
			for i, wait := range []Wait{WaitBlock, WaitBlock, WaitYield} {
				v := map[string]string{"WAIT": strconv.Itoa(int(wait))}
				for k, x := range vars {
					v[k] = x
				}
				if i == 2 && c.stall > 0 {
					v["STALL"] = "0" // one reader keeps up
				}
				readers = append(readers, startHelper(t, "reader", v))
			}
			for _, r := range readers {
				r.expect(t, "ready", 20*time.Second)
			}
			if err := w.Send("go"); err != nil {
				t.Fatal(err)
			}
			for i, r := range readers {
				got, lost, laps := parseResult(t, r.expect(t, "result ", 60*time.Second))
				if got+lost != count {
					t.Errorf("reader %d: got %d + lost %d != %d", i, got, lost, count)
				}
				if c.lossless && lost != 0 {
					t.Errorf("reader %d lost %d records in a ring that holds them all", i, lost)
				}
				if !c.lossless && i < 2 && laps == 0 {
					t.Errorf("stalled reader %d was never lapped: the test proves nothing", i)
				}
				if err := r.Wait(); err != nil {
					t.Errorf("reader %d: %v", i, err)
				}
				t.Logf("reader %d: got %d lost %d laps %d", i, got, lost, laps)
			}
			if err := w.Wait(); err != nil {
				t.Errorf("writer: %v", err)
			}
		})
	}
}

// kill -9 of the writer mid-stream: the reader delivers every record
// written, then learns the producer is gone through its liveness check.
// The dead writer's segment is found stale and removed.
func TestWriterKilled(t *testing.T) {
	const count = 5000
	dir, seg := shmDir(t), shm.Name("ringkill", shm.NewEpoch())
	w := startHelper(t, "writer", map[string]string{"DIR": dir, "SEG": seg, "CAP": strconv.Itoa(1 << 20),
		"COUNT": strconv.Itoa(count), "SIZE": "64", "HANG": "1"})
	w.expect(t, "created", 20*time.Second)
	s, err := shm.Open(seg, shm.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := NewReader(s.Bytes(), ReaderOptions{Start: StartOldest, LivenessInterval: 10 * time.Millisecond,
		Liveness: func() error { return s.Alive(0) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send("go"); err != nil {
		t.Fatal(err)
	}
	w.expect(t, "written", 20*time.Second)
	if err := w.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.Wait()
	var got int
	done := make(chan error, 1)
	go func() {
		var dst []byte
		for {
			rec, err := r.Next(dst)
			if err != nil {
				done <- err
				return
			}
			if err := checkRecord(rec); err != nil {
				done <- err
				return
			}
			dst = rec.Payload
			got++
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrProducerGone) || !errors.Is(err, shm.ErrCreatorDead) {
			t.Fatalf("after kill -9: %v, want ErrProducerGone from a dead creator", err)
		}
	case <-time.After(20 * time.Second):
		_ = r.Close()
		t.Fatal("the reader hung after its writer was killed")
	}
	if got != count {
		t.Errorf("delivered %d of the %d records written before the kill", got, count)
	}
	removed, err := shm.RemoveStale("ringkill", shm.Options{Dir: dir})
	if err != nil || len(removed) != 1 {
		t.Errorf("stale segment of the killed writer: removed %v, %v", removed, err)
	}
}
