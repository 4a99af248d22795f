package callrt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/vnrpc/vnrpc/calls"
)

// Exec is the server side of a call, the same for every transport: it
// refuses a request whose deadline has passed (CodeDeadlineExceeded: the
// handler does not run, so a timed-out send_order never fires late),
// gives the handler ctx with the request's deadline (an inline handler's
// without a timer, see WithDeadlineNoTimer), recovers a panic
// (CodeInternal, logged with the peer and the stack) and maps the
// handler's error to its code. It fills rep, whose ID the caller has set.
func Exec(ctx context.Context, h calls.Handler, req *Request, inline bool, log *slog.Logger, rep *Reply) {
	if d := req.Deadline; !d.IsZero() {
		if !time.Now().Before(d) { // the caller has given up: never run a late request
			rep.Code = calls.CodeDeadlineExceeded
			rep.Msg = fmt.Sprintf("deadline passed %v before the call could run", time.Since(d).Round(time.Microsecond))
			return
		}
		if inline {
			ctx = WithDeadlineNoTimer(ctx, d)
		} else {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d)
			defer cancel()
		}
	}
	res, err := call(ctx, h, req, log)
	if err == nil {
		rep.Result = res
		return
	}
	var re *calls.RemoteError
	switch {
	case errors.As(err, &re) && re.Code != calls.CodeOK:
		rep.Code, rep.Msg = re.Code, re.Msg
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		rep.Code, rep.Msg = calls.CodeTimedOut, err.Error()
	default:
		rep.Code, rep.Msg = calls.CodeApp, err.Error()
	}
}

// call runs the handler, turning a panic into a CodeInternal error.
func call(ctx context.Context, h calls.Handler, req *Request, log *slog.Logger) (res []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			peer := ""
			if pr := calls.PeerFrom(ctx); pr != nil {
				peer = pr.Name
			}
			log.Error("handler panicked", "method", Truncate(req.Method, 64), "peer", peer, "panic", fmt.Sprint(p),
				"stack", string(debug.Stack()))
			res, err = nil, calls.Errorf(calls.CodeInternal, "handler panicked: %v", p)
		}
	}()
	return h.ServeCall(ctx, req.Method, req.Args)
}

// Truncate shortens s to at most n bytes for a log line, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:n], len(s))
}

// Deadline is ctx's deadline in Unix nanoseconds, for a client's own
// bookkeeping (0: none).
func Deadline(ctx context.Context) int64 {
	if d, ok := ctx.Deadline(); ok {
		return d.UnixNano()
	}
	return 0
}

// Timeout is what a request carries for ctx's deadline: the time left
// (by the monotonic clock), at least 1 ns once it has passed, so that the
// server refuses the request with CodeDeadlineExceeded; 0 without one.
func Timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), 1)
	}
	return 0
}

// TimeoutUntil is Timeout for a deadline in Unix nanoseconds (0: none).
func TimeoutUntil(deadline int64) time.Duration {
	if deadline == 0 {
		return 0
	}
	return max(time.Duration(deadline-time.Now().UnixNano()), 1)
}

// WithDeadlineNoTimer returns ctx reporting deadline d (Deadline, and Err
// once d has passed) without arming a timer: Done is ctx's own. For
// inline handlers, which never block, so nothing waits on Done for d; a
// timer per call would cost a wake-up of the runtime's poller.
func WithDeadlineNoTimer(ctx context.Context, d time.Time) context.Context {
	return deadlineCtx{ctx, d}
}

type deadlineCtx struct {
	context.Context
	d time.Time
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.d, true }

func (c deadlineCtx) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.d) {
		return context.DeadlineExceeded
	}
	return nil
}
