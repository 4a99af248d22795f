//go:build linux

package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vnrpc/vnrpc/internal/benchkit"
	"github.com/vnrpc/vnrpc/ring"
	"github.com/vnrpc/vnrpc/shm"
)

func init() {
	register(Scenario{Name: "ring", Desc: "ring one-way latency across processes (spin, block; 64/256/1024 B; 1 and 4 readers) beside a Go channel and a unix-socket stream",
		Units: func(quick bool) int { return len(ringCases(quick)) + 2*len(ringSizes(quick)) }, Run: runRing})
	registerHelper("ring-reader", ringReader)
	registerHelper("unix-reader", unixReader)
}

func ringSizes(quick bool) []int {
	if quick {
		return []int{64}
	}
	return []int{64, 256, 1024}
}

type ringCase struct {
	wait    string
	size    int
	readers int
}

func ringCases(quick bool) []ringCase {
	var out []ringCase
	readers := []int{1, 4}
	if quick {
		readers = []int{1}
	}
	for _, w := range []string{"spin", "block"} {
		for _, s := range ringSizes(quick) {
			for _, r := range readers {
				out = append(out, ringCase{w, s, r})
			}
		}
	}
	return out
}

const ringRate = 10_000 // records per second, paced by the writer

func ringCount(quick bool) (n, warm int) {
	if quick {
		return 3000, 300
	}
	return 30000, 3000
}

func runRing(ctx context.Context, e *Env) ([]Result, error) {
	n, warm := ringCount(e.Quick)
	var out []Result
	mode := fmt.Sprintf("paced@%d/s", ringRate)
	for _, c := range ringCases(e.Quick) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r, err := ringOnce(e, c, n, warm)
		if err != nil {
			return out, fmt.Errorf("ring %s/%d B/%d readers: %w", c.wait, c.size, c.readers, err)
		}
		r.Mode = mode
		out = append(out, r)
		e.Step()
	}
	for _, size := range ringSizes(e.Quick) {
		r := chanOnce(size, n, warm)
		r.Mode = mode
		out = append(out, r)
		e.Step()
		r, err := unixOnce(e, size, n, warm)
		if err != nil {
			return out, fmt.Errorf("unix-socket baseline: %w", err)
		}
		r.Mode = mode
		out = append(out, r)
		e.Step()
	}
	return out, nil
}

// ringOnce: the writer here, readers in helper processes.
func ringOnce(e *Env, c ringCase, n, warm int) (Result, error) {
	name, w, done, err := benchRing(e.Dir, "vnrpc-bench")
	if err != nil {
		return Result{}, err
	}
	defer done()
	var ps procs
	defer ps.stop()
	for i := range c.readers {
		p, err := ps.spawn("ring-reader", "VNRPC_SEG="+name, "VNRPC_DIR="+e.Dir, "VNRPC_WAIT="+c.wait,
			"VNRPC_N="+strconv.Itoa(n), "VNRPC_WARM="+strconv.Itoa(warm),
			"VNRPC_OUT="+filepath.Join(e.Dir, fmt.Sprintf("ring-%d.hist", i)))
		if err != nil {
			return Result{}, err
		}
		if _, err := p.expect("ready", 30*time.Second); err != nil {
			return Result{}, err
		}
	}
	payload := make([]byte, c.size-ring.RecordHeader)
	start := time.Now()
	pace(n, ringRate, benchkit.Spin, func(int, int64) { _, _ = w.Write(1, payload) })
	elapsed := time.Since(start)
	all := NewHist()
	var lost uint64
	for i, p := range ps {
		var d readerDone
		if err := p.expectMsg("done", 60*time.Second, &d); err != nil {
			return Result{}, err
		}
		lost += d.Lost
		h, err := LoadHist(filepath.Join(e.Dir, fmt.Sprintf("ring-%d.hist", i)))
		if err != nil {
			return Result{}, err
		}
		all.Merge(h)
	}
	r := Result{Scenario: "ring", Subject: "ring-" + c.wait, Size: c.size, Peers: c.readers,
		Rate: float64(n) / elapsed.Seconds(), Lost: lost}
	fill(all, &r)
	return r, nil
}

// readerDone is a reading helper's report: records known lost.
type readerDone struct{ Lost uint64 }

// ringReader reads VNRPC_N records and records their one-way latency
// after VNRPC_WARM; it reports "done" (readerDone).
func ringReader() error {
	seg, err := shm.Open(os.Getenv("VNRPC_SEG"), shm.Options{Dir: os.Getenv("VNRPC_DIR"), Populate: true})
	if err != nil {
		return err
	}
	defer seg.Close()
	wait := ring.WaitBlock
	if os.Getenv("VNRPC_WAIT") == "spin" {
		wait = ring.WaitSpin
	}
	rd, err := ring.NewReader(seg.Bytes(), ring.ReaderOptions{Wait: wait})
	if err != nil {
		return err
	}
	defer rd.Close()
	var env envReader
	n, warm := int(env.int("VNRPC_N")), int(env.int("VNRPC_WARM"))
	if env.err != nil {
		return env.err
	}
	fmt.Println("ready")
	h := NewHist()
	buf := make([]byte, 0, 4096)
	var lost uint64
	for i := 0; i < n; {
		rec, err := rd.Next(buf)
		var lap *ring.LapError
		if errors.As(err, &lap) {
			lost += lap.Lost
			i += int(lap.Lost)
			continue
		}
		if err != nil {
			return err
		}
		if i >= warm {
			h.Record(ring.Nanotime() - rec.Timestamp)
		}
		i++
	}
	if err := h.Save(os.Getenv("VNRPC_OUT")); err != nil {
		return err
	}
	say("done", readerDone{Lost: lost})
	waitStdin()
	return nil
}

// chanOnce: the same pacing through a Go channel in this process.
func chanOnce(size, n, warm int) Result {
	type msg struct {
		t   int64
		buf []byte
	}
	ch := make(chan msg, 1024)
	h := NewHist()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a spinning receiver, as a spinning ring reader
		defer wg.Done()
		runtime.LockOSThread()
		for i := 0; ; {
			select {
			case m, ok := <-ch:
				if !ok {
					return
				}
				if i >= warm {
					h.Record(nanotime() - m.t)
				}
				_ = m.buf
				i++
			default:
			}
		}
	}()
	payload := make([]byte, size)
	start := time.Now()
	pace(n, ringRate, benchkit.Spin, func(int, int64) { ch <- msg{nanotime(), payload} })
	close(ch)
	wg.Wait()
	r := Result{Scenario: "ring", Subject: "go-channel", Baseline: true, Size: size, Peers: 1,
		Rate: float64(n) / time.Since(start).Seconds(), Note: "in one process, spinning receiver"}
	fill(h, &r)
	return r
}

// unixOnce: the same pacing, each record's timestamp and payload written
// to a unix socket that a reader process reads with blocking reads.
func unixOnce(e *Env, size, n, warm int) (Result, error) {
	path := filepath.Join(e.Dir, "unix-reader.sock")
	_ = os.Remove(path)
	var ps procs
	defer ps.stop()
	p, err := ps.spawn("unix-reader", "VNRPC_SOCK="+path, "VNRPC_SIZE="+strconv.Itoa(size), "VNRPC_N="+strconv.Itoa(n),
		"VNRPC_WARM="+strconv.Itoa(warm), "VNRPC_OUT="+filepath.Join(e.Dir, "unix.hist"))
	if err != nil {
		return Result{}, err
	}
	if _, err := p.expect("ready", 30*time.Second); err != nil {
		return Result{}, err
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	buf := make([]byte, size)
	start := time.Now()
	var werr error
	pace(n, ringRate, benchkit.Spin, func(int, int64) {
		binary.LittleEndian.PutUint64(buf, uint64(nanotime()))
		if _, err := c.Write(buf); err != nil && werr == nil {
			werr = err
		}
	})
	if werr != nil {
		return Result{}, werr
	}
	elapsed := time.Since(start)
	if err := p.expectMsg("done", 60*time.Second, &readerDone{}); err != nil {
		return Result{}, err
	}
	h, err := LoadHist(filepath.Join(e.Dir, "unix.hist"))
	if err != nil {
		return Result{}, err
	}
	r := Result{Scenario: "ring", Subject: "unix-stream", Baseline: true, Size: size, Peers: 1,
		Rate: float64(n) / elapsed.Seconds(), Note: "blocking read(2) in another process"}
	fill(h, &r)
	return r, nil
}

func unixReader() error {
	ln, err := net.Listen("unix", os.Getenv("VNRPC_SOCK"))
	if err != nil {
		return err
	}
	defer ln.Close()
	var env envReader
	size, n, warm := int(env.int("VNRPC_SIZE")), int(env.int("VNRPC_N")), int(env.int("VNRPC_WARM"))
	if env.err != nil {
		return env.err
	}
	fmt.Println("ready")
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	h := NewHist()
	buf := make([]byte, size)
	for i := range n {
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if i >= warm {
			h.Record(nanotime() - int64(binary.LittleEndian.Uint64(buf)))
		}
	}
	if err := h.Save(os.Getenv("VNRPC_OUT")); err != nil {
		return err
	}
	say("done", readerDone{})
	waitStdin()
	return nil
}
