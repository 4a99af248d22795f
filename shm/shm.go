//go:build linux

package shm

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Errors callers branch on (with errors.Is).
var (
	// ErrIncompatible: the file is not a segment of this layout.
	ErrIncompatible = errors.New("shm: incompatible segment")
	// ErrExist: a segment of that name exists (wraps fs.ErrExist too).
	ErrExist = fmt.Errorf("shm: segment exists: %w", fs.ErrExist)
	// ErrNotExist: no segment of that name (wraps fs.ErrNotExist too).
	ErrNotExist = fmt.Errorf("shm: no such segment: %w", fs.ErrNotExist)
	// ErrUnsafeMode: the segment file may be written by other users.
	ErrUnsafeMode = errors.New("shm: segment file writable by others")
	// ErrGone marks every reason Alive gives: closed, creator dead, heartbeat stale.
	ErrGone = errors.New("shm: producer gone")
	// ErrClosed: the producer marked the segment closed.
	ErrClosed = fmt.Errorf("%w: segment closed", ErrGone)
	// ErrCreatorDead: the creating process no longer exists.
	ErrCreatorDead = fmt.Errorf("%w: creator process is dead", ErrGone)
	// ErrStale: the heartbeat is older than the timeout given to Alive.
	ErrStale = fmt.Errorf("%w: heartbeat stale", ErrGone)
)

// OpError records the operation and segment behind an error, like os.PathError.
type OpError struct {
	Op   string // "create", "open", "map" …
	Name string
	Err  error
}

func (e *OpError) Error() string { return "shm: " + e.Op + " " + e.Name + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// DefaultDir is where segments live unless Options.Dir says otherwise.
const DefaultDir = "/dev/shm"

// MkdirTemp creates a fresh directory for segments (and their sockets)
// under DefaultDir, which is memory-backed, or under os.TempDir when
// DefaultDir cannot take one. A segment in a disk-backed directory has its
// pages written back to disk, and a write to a page under writeback waits
// for it: benchmarks and tests that place segments should use this.
func MkdirTemp(pattern string) (string, error) {
	if dir, err := os.MkdirTemp(DefaultDir, pattern); err == nil {
		return dir, nil
	}
	return os.MkdirTemp("", pattern)
}

// Options locate and protect segments.
type Options struct {
	Dir  string      // default DefaultDir
	Mode os.FileMode // for Create; default 0600
	// Epoch, for Create, sets the segment's epoch; 0 draws a random one.
	Epoch uint64
	// Populate maps every page of the segment when it is created or
	// opened: Create allocates its memory then, Open enters it in this
	// process's page tables. Without it each page faults in when first
	// touched, on the path of whatever record first lands in it (several
	// microseconds, once per page per process).
	Populate bool
}

func (o Options) dir() string {
	if o.Dir == "" {
		return DefaultDir
	}
	return o.Dir
}

// Info describes a segment.
type Info struct {
	Name       string
	Path       string
	Epoch      uint64
	Capacity   int
	CreatorPID int
	Created    time.Time
}

// Segment is one mapped segment.
type Segment struct {
	info Info
	mem  mmap.MMap
	once sync.Once
	err  error
}

// NewEpoch returns a random non-zero epoch.
func NewEpoch() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
		if e := binary.LittleEndian.Uint64(b[:]); e != 0 {
			return e
		}
	}
}

// Name is the conventional segment name for a producer start: prefix-EPOCH.
func Name(prefix string, epoch uint64) string { return fmt.Sprintf("%s-%016x", prefix, epoch) }

func checkName(name string) error {
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return &OpError{"name", name, errors.New("a segment name is 1 to 200 characters without '/'")}
	}
	return nil
}

// Create makes a new segment with size user bytes, mapped read-write. It
// fails with ErrExist if the name is taken: segments are never reused.
func Create(name string, size int, o Options) (*Segment, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if size <= 0 || size > 1<<40 {
		return nil, &OpError{"create", name, fmt.Errorf("size %d out of range", size)}
	}
	mode := o.Mode
	if mode == 0 {
		mode = 0o600
	}
	path := filepath.Join(o.dir(), name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, &OpError{"create", name, ErrExist}
		}
		return nil, &OpError{"create", name, err}
	}
	defer f.Close()
	fail := func(op string, err error) (*Segment, error) {
		_ = os.Remove(path)
		return nil, &OpError{op, name, err}
	}
	if err := f.Chmod(mode); err != nil { // exactly mode, whatever the umask
		return fail("chmod", err)
	}
	if err := f.Truncate(int64(HeaderSize + size)); err != nil {
		return fail("truncate", err)
	}
	mem, err := mmap.MapRegion(f, HeaderSize+size, mmap.RDWR, 0, 0)
	if err != nil {
		return fail("map", err)
	}
	if o.Populate {
		if err := populate(mem, true); err != nil {
			_ = mem.Unmap()
			return fail("populate", err)
		}
	}
	epoch := o.Epoch
	if epoch == 0 {
		epoch = NewEpoch()
	}
	now := time.Now()
	u32(mem, offVersion).Store(layoutVersion)
	u32(mem, offHeaderSize).Store(HeaderSize)
	u64(mem, offEpoch).Store(epoch)
	u64(mem, offCapacity).Store(uint64(size))
	u64(mem, offPID).Store(uint64(os.Getpid()))
	u64(mem, offCreated).Store(uint64(now.UnixNano()))
	u64(mem, offHeartbeat).Store(uint64(now.UnixNano()))
	u64(mem, offMagic).Store(magic) // last: Open rejects a half-written header
	return &Segment{mem: mem, info: Info{Name: name, Path: path, Epoch: epoch, Capacity: size,
		CreatorPID: os.Getpid(), Created: now}}, nil
}

// Open maps an existing segment read-write (readers register as sleepers
// in it) after checking that only its owner may write it and that its
// header is of this layout.
func Open(name string, o Options) (*Segment, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(o.dir(), name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &OpError{"open", name, ErrNotExist}
		}
		return nil, &OpError{"open", name, err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &OpError{"stat", name, err}
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, &OpError{"open", name, fmt.Errorf("%w (mode %04o); refusing to use it", ErrUnsafeMode, st.Mode().Perm())}
	}
	if !st.Mode().IsRegular() || st.Size() < HeaderSize+8 || st.Size() > 1<<40+HeaderSize {
		return nil, &OpError{"open", name, fmt.Errorf("%w: %d-byte %v file", ErrIncompatible, st.Size(), st.Mode().Type())}
	}
	mem, err := mmap.MapRegion(f, int(st.Size()), mmap.RDWR, 0, 0)
	if err != nil {
		return nil, &OpError{"map", name, err}
	}
	s := &Segment{mem: mem, info: Info{Name: name, Path: path}}
	if err := s.check(st.Size()); err != nil {
		_ = mem.Unmap()
		return nil, &OpError{"open", name, err}
	}
	if o.Populate {
		if err := populate(mem, false); err != nil {
			_ = mem.Unmap()
			return nil, &OpError{"populate", name, err}
		}
	}
	return s, nil
}

// populate faults in every page of mem, for writing (a new segment: the
// kernel allocates them) or for reading. Kernels before 5.14 lack
// MADV_POPULATE_*: there every page is touched instead (a new segment is
// all zeros, so writing a zero changes nothing).
func populate(mem []byte, write bool) error {
	advice := unix.MADV_POPULATE_READ
	if write {
		advice = unix.MADV_POPULATE_WRITE
	}
	err := madvise(mem, advice)
	if !errors.Is(err, unix.EINVAL) {
		return err
	}
	var sink byte
	for i := 0; i < len(mem); i += os.Getpagesize() {
		if write {
			mem[i] = 0
		} else {
			sink += mem[i]
		}
	}
	populateSink = sink
	return nil
}

var populateSink byte // keeps the read-touch loop from being optimized away

var madvise = unix.Madvise // tests stand in for an old kernel

func (s *Segment) check(fileSize int64) error {
	m := s.mem
	if v := u64(m, offMagic).Load(); v != magic {
		return fmt.Errorf("%w: magic %#x", ErrIncompatible, v)
	}
	if v := u32(m, offVersion).Load(); v != layoutVersion {
		return fmt.Errorf("%w: layout version %d, this build reads %d", ErrIncompatible, v, layoutVersion)
	}
	if v := u32(m, offHeaderSize).Load(); v != HeaderSize {
		return fmt.Errorf("%w: header size %d", ErrIncompatible, v)
	}
	capacity := u64(m, offCapacity).Load()
	if capacity != uint64(fileSize-HeaderSize) {
		return fmt.Errorf("%w: capacity %d but the file holds %d bytes after the header", ErrIncompatible, capacity, fileSize-HeaderSize)
	}
	s.info.Epoch = u64(m, offEpoch).Load()
	s.info.Capacity = int(capacity)
	s.info.CreatorPID = int(u64(m, offPID).Load())
	s.info.Created = time.Unix(0, int64(u64(m, offCreated).Load()))
	return nil
}

// Info describes the segment.
func (s *Segment) Info() Info { return s.info }

// Bytes is the segment's user memory, page-aligned, shared with every
// process that maps the segment.
func (s *Segment) Bytes() []byte { return s.mem[HeaderSize:] }

// Beat stamps the heartbeat with the current time. Producers call it
// periodically (well within the timeout readers give Alive).
func (s *Segment) Beat() { u64(s.mem, offHeartbeat).Store(uint64(time.Now().UnixNano())) }

// BeatEvery starts a goroutine that calls Beat every d until stop is
// called; stop waits for it to end and may be called more than once. The
// producer owns it: call stop before Close.
func (s *Segment) BeatEvery(d time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				s.Beat()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

// Heartbeat is the time of the producer's last Beat.
func (s *Segment) Heartbeat() time.Time { return time.Unix(0, int64(u64(s.mem, offHeartbeat).Load())) }

// MarkClosed tells readers the producer stopped on purpose.
func (s *Segment) MarkClosed() { u32(s.mem, offClosed).Store(1) }

// Closed reports whether the producer marked the segment closed.
func (s *Segment) Closed() bool { return u32(s.mem, offClosed).Load() != 0 }

// Alive returns nil while the producer lives: an error wrapping ErrGone
// (ErrClosed, ErrCreatorDead, or, if timeout > 0, ErrStale) otherwise.
func (s *Segment) Alive(timeout time.Duration) error {
	if s.Closed() {
		return ErrClosed
	}
	if !pidAlive(s.info.CreatorPID) {
		return fmt.Errorf("%w (pid %d)", ErrCreatorDead, s.info.CreatorPID)
	}
	if timeout > 0 {
		if age := time.Since(s.Heartbeat()); age > timeout {
			return fmt.Errorf("%w: last beat %v ago, timeout %v", ErrStale, age.Round(time.Millisecond), timeout)
		}
	}
	return nil
}

// pidAlive reports whether a process exists (one of another user counts)
// and has not exited: a zombie, killed but not yet reaped by its parent,
// still answers kill(pid, 0), and in a container whose init never reaps
// it stays one for good.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	return !exited(pid)
}

// exited reports whether /proc shows pid as a zombie (or dead); false
// when it cannot tell (no procfs).
func exited(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}

// Close unmaps the segment. It is idempotent and returns the first
// result. The file stays until Unlink.
func (s *Segment) Close() error {
	s.once.Do(func() {
		if err := s.mem.Unmap(); err != nil {
			s.err = &OpError{"unmap", s.info.Name, err}
		}
	})
	return s.err
}

// Unlink removes the segment's name; mappings stay valid until closed.
// Removing a name already gone is not an error.
func (s *Segment) Unlink() error {
	if err := os.Remove(s.info.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &OpError{"unlink", s.info.Name, err}
	}
	return nil
}

// Stale lists the segments in the directory whose names start with prefix
// and whose producer is gone: closed, or its creator process dead.
// Unreadable or foreign files are skipped.
func Stale(prefix string, o Options) ([]Info, error) {
	entries, err := os.ReadDir(o.dir())
	if err != nil {
		return nil, &OpError{"list", o.dir(), err}
	}
	var out []Info
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		s, err := Open(e.Name(), o)
		if err != nil {
			continue
		}
		if err := s.Alive(0); err != nil {
			out = append(out, s.Info())
		}
		_ = s.Close()
	}
	return out, nil
}

// RemoveStale deletes the segments Stale finds and returns their names.
func RemoveStale(prefix string, o Options) ([]string, error) {
	st, err := Stale(prefix, o)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, i := range st {
		if err := os.Remove(i.Path); err == nil {
			names = append(names, i.Name)
		}
	}
	return names, nil
}
