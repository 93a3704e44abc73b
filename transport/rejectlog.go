package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// rejectLogInterval is how often, at most, a Listener's default reject log
// writes a line while connections keep being rejected.
const rejectLogInterval = 10 * time.Second

// Why a connection was rejected, as the aggregated log counts it.
const (
	reasonEvicted = iota // dropped to make room
	reasonTimeout        // silent or slow past a deadline
	reasonAuth           // wrong secret or certificate
	reasonHangup         // the peer went away (a probe, a health check)
	reasonInvalid        // not grove, wrong version, bad Hello
	numReasons
)

var reasonNames = [numReasons]string{"evicted", "timeout", "auth", "hangup", "invalid"}

func reasonOf(err error) int {
	switch {
	case errors.Is(err, errEvicted):
		return reasonEvicted
	case errors.Is(err, os.ErrDeadlineExceeded):
		return reasonTimeout
	case errors.Is(err, ErrAuth):
		return reasonAuth
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return reasonHangup
	}
	return reasonInvalid
}

// A rejectLog is a Listener's default reject hook. It logs the first
// rejection after a quiet interval at once, with its error, and then at
// most one line per rejectLogInterval with the counts by reason, so that a
// flood of hostile connections costs a few lines a minute, not one line
// each. A line is a warning, or a debug line if every rejection it counts
// is a peer that hung up without a word.
type rejectLog struct {
	logger *slog.Logger  // nil: slog.Default()
	kick   chan struct{} // a rejection was counted (capacity 1)

	mu         sync.Mutex
	quietAfter time.Time // lines are spaced by the interval until then
	last       time.Time // when the last line was written
	counts     [numReasons]int
	lastErr    error
	lastRemote net.Addr
}

func newRejectLog(logger *slog.Logger) *rejectLog {
	return &rejectLog{logger: logger, kick: make(chan struct{}, 1)}
}

func (r *rejectLog) log(level slog.Level, msg string, args ...any) {
	logger := r.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Log(context.Background(), level, msg, args...)
}

// record counts one rejection. It never blocks on the log.
func (r *rejectLog) record(remote net.Addr, err error) {
	now := time.Now()
	r.mu.Lock()
	if now.After(r.quietAfter) {
		r.quietAfter, r.last = now.Add(rejectLogInterval), now
		r.mu.Unlock()
		level := slog.LevelWarn
		if reasonOf(err) == reasonHangup {
			level = slog.LevelDebug
		}
		r.log(level, "transport: rejected connection", "remote", remote, "err", err)
		return
	}
	r.counts[reasonOf(err)]++
	r.lastErr, r.lastRemote = err, remote
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// flush writes the line for the rejections counted since the last one, if
// any.
func (r *rejectLog) flush() {
	now := time.Now()
	r.mu.Lock()
	total := 0
	for _, n := range r.counts {
		total += n
	}
	if total == 0 {
		r.mu.Unlock()
		return
	}
	args := []any{"count", total, "since", now.Sub(r.last).Round(time.Millisecond)}
	for i, n := range r.counts {
		if n > 0 {
			args = append(args, reasonNames[i], n)
		}
	}
	args = append(args, "last_remote", r.lastRemote, "last_err", r.lastErr)
	level := slog.LevelWarn
	if r.counts[reasonHangup] == total {
		level = slog.LevelDebug
	}
	r.counts = [numReasons]int{}
	r.lastErr, r.lastRemote = nil, nil
	r.quietAfter, r.last = now.Add(rejectLogInterval), now
	r.mu.Unlock()
	r.log(level, "transport: rejected connections", args...)
}

// run writes the aggregated lines until ctx ends; the Listener flushes the
// last counts itself once its goroutines have exited.
func (r *rejectLog) run(ctx context.Context) {
	timer := time.NewTimer(rejectLogInterval)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-r.kick:
		case <-ctx.Done():
			return
		}
		r.mu.Lock()
		wait := time.Until(r.quietAfter)
		r.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		r.flush()
	}
}
