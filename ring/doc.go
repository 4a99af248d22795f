//go:build linux

// Package ring is a single-producer, many-reader broadcast ring over a
// caller-supplied []byte: a heap buffer within one process, or a shared
// memory segment (package shm) across processes. It carries vnrpc's events
// on one host. It knows nothing of trading, sockets or encodings.
//
// Producer:
//
//	w, err := ring.NewWriter(buf) // len(buf) == ring.Size(capacity)
//	seq, err := w.Write(typ, payload)
//	// or encode in place:
//	b, err := w.Claim(typ, n)
//	encode(b)
//	seq, err = w.Commit()
//
// Consumer (in any number of goroutines or processes, each its own Reader):
//
//	r, err := ring.NewReader(buf, ring.ReaderOptions{Wait: ring.WaitBlock})
//	for {
//		rec, err := r.Next(dst)
//		var lap *ring.LapError
//		switch {
//		case errors.As(err, &lap): // lap.Lost records were lost; resync, then go on
//		case errors.Is(err, ring.ErrClosed): // the writer closed; all read
//		case err != nil: // ErrProducerGone, ErrCorrupt, ErrReaderClosed
//		}
//		use(rec.Type, rec.Seq, rec.Timestamp, rec.Payload)
//	}
//
// The design is Aeron's broadcast transmitter/receiver with a sequence
// number in every record. The writer never waits for readers and reads
// nothing they write but the count of sleeping readers, so its cost does
// not depend on how many there are. A reader copies a record, then checks
// that the writer did not reach it meanwhile (tailIntent), so it never
// delivers a torn record; a reader that was overtaken learns it every time,
// with the exact number of records lost (from the sequence numbers), and
// resumes at the newest record.
//
// Readers wait by spinning (WaitSpin: lowest latency, a whole core), by
// spinning then yielding (WaitYield), or by spinning briefly and then
// sleeping on a futex word in the ring (WaitBlock, the default); the writer
// makes the wake system call only while some reader sleeps. A Liveness
// function lets a waiting reader notice a writer process that died.
//
// A reader treats the buffer as hostile: every length, position and
// sequence read from it is checked, and a bad one is an error wrapping
// ErrCorrupt or ErrIncompatible, never a panic or an out-of-range read.
//
// Concurrency: a Writer is used by one goroutine; a Reader by one goroutine
// (Close excepted). Under the race detector (build tag race) payloads are
// copied with word-sized atomics so the intended overlap of a reader's copy
// with the writer's overwrite is not reported, while every counter of the
// protocol stays checked; normal builds copy with plain memory moves.
//
// Format: layout.go holds the memory layout (header, counters, record
// header) with a diagram. Its constants are the shared-memory format;
// change them and bump layoutVersion.
//
// Stress: VNRPC_RING_STRESS=N makes TestConcurrentReadersRace push N
// records (default 200 000) through randomly stalled readers, e.g.
//
//	VNRPC_RING_STRESS=100000000 go test ./ring -run ConcurrentReaders -timeout 2h
package ring
