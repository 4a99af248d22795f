package lan

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/vnrpc/vnrpc/internal/proc"
	"github.com/vnrpc/vnrpc/internal/testutil"
)

func init() { proc.Register("flooder", flooder) }

func TestMain(m *testing.M) {
	proc.Main()
	os.Exit(m.Run())
}

// floodBytes is how much the flooder sends.
const floodBytes = 30 << 20

// flooder is a hostile peer of the event port ($VNRPC_ADDR): three
// DEALERs (the port's peer type) send would-be subscriptions ("\x01" +
// topic) of 1024 and 16 random bytes and the subscribe message itself,
// over and over, floodBytes in all, as fast as the server takes them.
// They never read. It prints "flooding" once under way and "sent N
// messages" when done, and holds its connections until stdin closes.
func flooder() int {
	sizes := []int{1024, 16, 0}
	var socks []*zmq.Socket
	for range sizes {
		x, err := zmq.NewSocket(zmq.DEALER)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		_ = x.SetLinger(0)
		_ = x.SetRcvhwm(1)
		if err := x.Connect(os.Getenv("VNRPC_ADDR")); err != nil {
			fmt.Println("error", err)
			return 1
		}
		socks = append(socks, x)
	}
	msgs := 0
	for n := 0; n < floodBytes; {
		for i, x := range socks {
			topic := make([]byte, 1+sizes[i])
			topic[0] = 1
			_, _ = rand.Read(topic[1:])
			if _, err := x.SendBytes(topic, 0); err != nil {
				fmt.Println("error", err)
				return 1
			}
			n += len(topic)
			msgs++
		}
		if msgs == 3*1024 {
			fmt.Println("flooding")
		}
	}
	fmt.Println("sent", msgs, "messages")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// TestEventPortFlood: a peer that floods the event port with 30 MiB of
// messages (distinct would-be subscription topics, short and long,
// repeated subscribes, from connections that never read) leaves the
// server's memory bounded (it keeps nothing but one identity per
// subscriber, and ZeroMQ holds a bounded queue per connection), and a
// real subscriber keeps getting every event, without a gap, meanwhile.
func TestEventPortFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 MiB flood: the full tier")
	}
	logs := &testutil.Buffer{}
	s := listen(t, ServerOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))}, newHandler())
	var mu sync.Mutex
	var got, lost, last uint64
	arrived := make(chan struct{}, 1)
	dial(t, ClientOptions{CallAddr: s.CallAddr(), EventAddr: s.EventAddr(),
		OnEvent: func(e Event) {
			mu.Lock()
			got, last = got+1, e.Seq
			mu.Unlock()
			select {
			case arrived <- struct{}{}:
			default:
			}
		},
		OnGap: func(n uint64) { mu.Lock(); lost += n; mu.Unlock() }})
	awaitSubscription(t, s, arrived, 0)
	mu.Lock()
	got, seq := 0, last+1
	mu.Unlock()
	before := testutil.RSS(t)

	f := proc.StartHelper(t, "flooder", proc.Options{Env: []string{"VNRPC_ADDR=" + s.EventAddr()}})
	f.MustExpect(t, "flooding", 30*time.Second)
	sent := make(chan string, 1)
	go func() {
		line, err := f.Until(2*time.Minute, "the flood's end", func(l string) bool { return strings.HasPrefix(l, "sent") })
		if err != nil {
			line = err.Error()
		}
		sent <- line
	}()

	// Publish 50 events a millisecond while the flood is taken in (it
	// goes as fast as Publish reads it), then as many again.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var published uint64
	var slowest time.Duration
	var done string
	peak := before
	for after := -1; after != 0; {
		select {
		case done = <-sent:
			after = 1000
			if !strings.HasPrefix(done, "sent") {
				t.Fatal(done)
			}
		case <-tick.C:
		}
		for range 50 {
			start := time.Now()
			if err := s.Publish(Event{Seq: seq + published, Type: 1}); err != nil {
				t.Fatal(err)
			}
			slowest = max(slowest, time.Since(start))
			published++
		}
		if after > 0 {
			after--
		}
		if published%10000 == 0 {
			peak = max(peak, testutil.RSS(t))
		}
	}
	deadline := time.After(20 * time.Second)
	for {
		mu.Lock()
		n := got
		mu.Unlock()
		if n >= published {
			break
		}
		select {
		case <-arrived:
		case <-deadline:
			t.Fatalf("%d of %d events arrived", n, published)
		}
	}
	peak = max(peak, testutil.RSS(t))
	t.Logf("flooder %s; server RSS %d MB before, at most %d MB during; %d events published, the slowest Publish took %v",
		done, before>>20, peak>>20, published, slowest)
	if grew := peak - before; grew > 64<<20 {
		t.Errorf("the flood grew the server by %d MB", grew>>20)
	}
	mu.Lock()
	defer mu.Unlock()
	if lost != 0 {
		t.Errorf("the subscriber lost %d events during the flood", lost)
	}
	if n := strings.Count(logs.String(), "ignoring a message on the event port"); n > 3 {
		t.Errorf("%d warnings about the flood, want at most one per connection:\n%s", n, logs.String())
	}
}
