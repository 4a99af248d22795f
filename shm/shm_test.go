package shm

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func opts(t testing.TB) Options { return Options{Dir: t.TempDir()} }

func TestCreateOpenShareMemory(t *testing.T) {
	o := opts(t)
	name := Name("vnrpc-test", NewEpoch())
	w, err := Create(name, 8192, o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st, err := os.Stat(filepath.Join(o.Dir, name))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != HeaderSize+8192 {
		t.Fatalf("segment file %v %v", st, err)
	}
	r, err := Open(name, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wi, ri := w.Info(), r.Info()
	if wi.Epoch != ri.Epoch || ri.Capacity != 8192 || ri.CreatorPID != os.Getpid() || !wi.Created.Equal(ri.Created) {
		t.Errorf("info: created %+v, opened %+v", wi, ri)
	}
	copy(w.Bytes(), "shared")
	if string(r.Bytes()[:6]) != "shared" || len(r.Bytes()) != 8192 {
		t.Error("the two mappings do not share memory")
	}
	if uintptrOf(r.Bytes())%4096 != 0 {
		t.Error("user bytes are not page-aligned")
	}
	if _, err := Create(name, 8192, o); !errors.Is(err, ErrExist) || !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create: %v", err)
	}
	if err := r.Alive(time.Second); err != nil {
		t.Errorf("live producer: %v", err)
	}
	w.MarkClosed()
	if err := r.Alive(time.Second); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrGone) {
		t.Errorf("after MarkClosed: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Unlink(); err != nil {
		t.Fatal(err)
	}
	if err := w.Unlink(); err != nil {
		t.Errorf("second Unlink: %v", err)
	}
	if string(r.Bytes()[:6]) != "shared" {
		t.Error("an unlinked segment's mapping changed")
	}
	if _, err := Open(name, o); !errors.Is(err, ErrNotExist) {
		t.Errorf("open after unlink: %v", err)
	}
}

func TestHeartbeatAndDeadCreator(t *testing.T) {
	o := opts(t)
	s, err := Create("hb", 4096, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u64(s.mem, offHeartbeat).Store(uint64(time.Now().Add(-10 * time.Second).UnixNano()))
	if err := s.Alive(3 * time.Second); !errors.Is(err, ErrStale) {
		t.Errorf("old heartbeat: %v", err)
	}
	s.Beat()
	if err := s.Alive(3 * time.Second); err != nil {
		t.Errorf("after Beat: %v", err)
	}
	// A process that has exited is a dead creator.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	u64(s.mem, offPID).Store(uint64(cmd.Process.Pid))
	r, err := Open("hb", o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Alive(0); !errors.Is(err, ErrCreatorDead) {
		t.Errorf("dead creator: %v", err)
	}
	stale, err := Stale("hb", o)
	if err != nil || len(stale) != 1 || stale[0].Name != "hb" {
		t.Fatalf("Stale: %v %v", stale, err)
	}
	live, err := Create("hb-live", 4096, o)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	removed, err := RemoveStale("hb", o)
	if err != nil || !slices.Equal(removed, []string{"hb"}) {
		t.Fatalf("RemoveStale: %v %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "hb-live")); err != nil {
		t.Error("RemoveStale removed a live segment")
	}
}

func TestBeatEveryKeepsItAliveUntilStopped(t *testing.T) {
	o := opts(t)
	s, err := Create("beat", 4096, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := s.BeatEvery(5 * time.Millisecond)
	before := s.Heartbeat()
	deadline := time.Now().Add(10 * time.Second)
	for !s.Heartbeat().After(before) {
		if time.Now().After(deadline) {
			t.Fatal("no beat in 10 s")
		}
		runtimeGosched()
	}
	stop()
	stop()
	last := s.Heartbeat()
	// With the beat stopped, a short timeout finds the heartbeat stale.
	for s.Alive(20*time.Millisecond) == nil {
		if time.Now().After(deadline) {
			t.Fatal("never stale after stop")
		}
		runtimeGosched()
	}
	if err := s.Alive(20 * time.Millisecond); !errors.Is(err, ErrStale) {
		t.Errorf("after stop: %v", err)
	}
	if !s.Heartbeat().Equal(last) {
		t.Error("beats after stop returned")
	}
}

func TestOpenRefusesUnsafeAndForeignFiles(t *testing.T) {
	o := opts(t)
	s, err := Create("wide", 4096, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Chmod(filepath.Join(o.Dir, "wide"), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("wide", o); !errors.Is(err, ErrUnsafeMode) {
		t.Errorf("world-writable segment: %v", err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(o.Dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tiny", []byte("hello"))
	write("zeros", make([]byte, HeaderSize+4096))
	good := make([]byte, HeaderSize+4096)
	copy(good, s.mem[:HeaderSize])
	binary.LittleEndian.PutUint64(good[offCapacity:], 1<<20)
	write("capacity", good)
	for _, n := range []string{"tiny", "zeros", "capacity"} {
		if _, err := Open(n, o); !errors.Is(err, ErrIncompatible) {
			t.Errorf("%s: %v, want ErrIncompatible", n, err)
		}
	}
	for _, bad := range []string{"", "a/b", "..", string(make([]byte, 201))} {
		if _, err := Create(bad, 4096, o); err == nil {
			t.Errorf("Create(%q) accepted", bad)
		}
	}
	if _, err := Create("neg", -1, o); err == nil {
		t.Error("negative size accepted")
	}
}

// FuzzOpen: any file content either opens as a valid segment or is
// refused with ErrIncompatible; nothing panics or reads out of range.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	s, err := Create("seed", 4096, Options{Dir: dir})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte(nil), s.mem...))
	_ = s.Close()
	f.Add([]byte("not a segment"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		o := Options{Dir: t.TempDir()}
		if err := os.WriteFile(filepath.Join(o.Dir, "f"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		seg, err := Open("f", o)
		if err != nil {
			if !errors.Is(err, ErrIncompatible) {
				t.Fatalf("error %v does not wrap ErrIncompatible", err)
			}
			return
		}
		defer seg.Close()
		if seg.Info().Capacity != len(b)-HeaderSize || len(seg.Bytes()) != len(b)-HeaderSize {
			t.Fatalf("opened with capacity %d from %d bytes", seg.Info().Capacity, len(b))
		}
		_ = seg.Alive(time.Second)
	})
}

// TestZombieCreatorIsDead: a creator killed but not yet reaped (a zombie,
// as under an init that never reaps) is dead, so its segment is stale.
func TestZombieCreatorIsDead(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no procfs: zombies cannot be told apart here")
	}
	o := opts(t)
	s, err := Create("zombie", 4096, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer cmd.Wait() // reap it at the end
	// Without Wait the exited child stays a zombie: wait for /proc to say so.
	for deadline := time.Now().Add(10 * time.Second); !exited(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never showed as exited in /proc", pid)
		}
		runtime.Gosched()
	}
	u64(s.mem, offPID).Store(uint64(pid))
	r, err := Open("zombie", o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Alive(0); !errors.Is(err, ErrCreatorDead) {
		t.Errorf("zombie creator: Alive = %v, want ErrCreatorDead", err)
	}
	if !pidAlive(os.Getpid()) {
		t.Error("this process counted as dead")
	}
}

// resident counts the pages of b in memory (mincore).
func resident(t *testing.T, b []byte) (in, all int) {
	t.Helper()
	vec := make([]byte, (len(b)+os.Getpagesize()-1)/os.Getpagesize())
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, len(vec)
}

// Populate allocates a new segment's every page at Create (a ring's
// first lap then takes no page faults), with MADV_POPULATE_WRITE or, on
// kernels without it, by touching each page; Open with it works alike.
func TestPopulateMapsEveryPage(t *testing.T) {
	dir, err := MkdirTemp("shm-populate") // tmpfs, as segments live in
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	const size = 1 << 20
	lazy, err := Create(Name("lazy", NewEpoch()), size, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	if in, all := resident(t, lazy.Bytes()); in > all/2 {
		t.Fatalf("without Populate %d of %d pages are in memory already: the test cannot tell", in, all)
	}
	for _, oldKernel := range []bool{false, true} {
		if oldKernel {
			madvise = func([]byte, int) error { return unix.EINVAL }
			t.Cleanup(func() { madvise = unix.Madvise })
		}
		name := Name("eager", NewEpoch())
		w, err := Create(name, size, Options{Dir: dir, Populate: true})
		if err != nil {
			t.Fatal(err)
		}
		if in, all := resident(t, w.Bytes()); in != all {
			t.Errorf("old kernel %v: %d of %d pages in memory after Create with Populate", oldKernel, in, all)
		}
		r, err := Open(name, Options{Dir: dir, Populate: true})
		if err != nil {
			t.Fatal(err)
		}
		copy(w.Bytes()[size-6:], "shared")
		if string(r.Bytes()[size-6:]) != "shared" || r.Info().Epoch != w.Info().Epoch {
			t.Errorf("old kernel %v: a populated segment does not share its memory", oldKernel)
		}
		_ = r.Close()
		_ = w.Unlink()
		_ = w.Close()
	}
}
