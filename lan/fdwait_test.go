package lan

import (
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// TestMissedEdgeIsBounded forces the mistake fdWait's idle tracking must
// never make, a socket marked idle while a message waits, and checks that
// it costs a bounded wait, not a hang: wait returns, clears the flags, and
// the message is found.
func TestMissedEdgeIsBounded(t *testing.T) {
	pair := func() (*zmq.Socket, *zmq.Socket) {
		pull, addr, err := inprocPair("edge")
		if err != nil {
			t.Fatal(err)
		}
		push, err := zmq.NewSocket(zmq.PUSH)
		if err != nil {
			t.Fatal(err)
		}
		_ = push.SetLinger(0)
		if err := push.Connect(addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = push.Close(); _ = pull.Close() })
		return pull, push
	}
	a, aPush := pair()
	b, _ := pair()
	w, err := newFdWait(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aPush.SendBytes([]byte("waiting"), 0); err != nil {
		t.Fatal(err)
	}
	// Let the message reach a, then process a's mailbox (as any operation
	// on it does): its ZMQ_FD edge is gone while the message waits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev, err := a.GetEvents()
		if err != nil {
			t.Fatal(err)
		}
		if ev&zmq.POLLIN != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message never reached the socket")
		}
	}
	w.idle = [2]bool{true, true} // the mistake: a is marked idle

	// Wait as the loops do: take what the sockets whose flags are clear
	// hold, mark them idle again, wait again. The message must come out.
	found := make(chan []byte, 1)
	go func() {
		defer close(found)
		for time.Now().Before(deadline) {
			if err := w.wait(-1); err != nil {
				return
			}
			if !w.idle[pullSock] {
				for {
					if _, err := b.RecvBytes(zmq.DONTWAIT); err != nil {
						break
					}
				}
				w.idle[pullSock] = true
			}
			if !w.idle[callSock] {
				if msg, err := a.RecvBytes(zmq.DONTWAIT); err == nil {
					found <- msg
					return
				}
				w.idle[callSock] = true
			}
		}
	}()
	select {
	case msg := <-found:
		if string(msg) != "waiting" {
			t.Fatalf("the waiting message was not found after the missed edge (got %q)", msg)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the wait hung on the missed edge")
	}
}
