package nursery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTooSlow is matched by the error of [FailAfter] and [FailAt] when their
// deadline fired before fn finished.
var ErrTooSlow = errors.New("nursery: too slow")

// scopeDeadline is the cause a deadline scope cancels its context with. Each
// scope makes its own, so a scope can tell its deadline from any other.
type scopeDeadline struct{ at time.Time }

func (e *scopeDeadline) Error() string {
	return "nursery: scope deadline " + e.at.Format(time.RFC3339Nano) + " exceeded"
}

// Unwrap makes the cause match context.DeadlineExceeded.
func (e *scopeDeadline) Unwrap() error { return context.DeadlineExceeded }

// MoveOnAfter runs fn with a context that is cancelled after d, and
// returns when fn does. It is Trio's move_on_after: timedOut reports whether
// this scope's own deadline fired (not an outer cancellation or an earlier
// outer deadline); when it did, the cancellation error fn returns is
// swallowed and err is nil. A genuine error from fn is returned either way.
// A d of zero or less is a deadline already past: fn starts cancelled.
//
// fn runs on the calling goroutine; the scope costs one timer.
func MoveOnAfter(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) (timedOut bool, err error) {
	return MoveOnAt(ctx, time.Now().Add(d), fn)
}

// MoveOnAt is [MoveOnAfter] with an absolute deadline.
func MoveOnAt(ctx context.Context, deadline time.Time, fn func(ctx context.Context) error) (timedOut bool, err error) {
	if fn == nil {
		panic("nursery: MoveOnAt called with a nil fn")
	}
	cause := &scopeDeadline{at: deadline}
	sctx, cancel := context.WithDeadlineCause(ctx, deadline, cause)
	defer cancel()
	err = fn(sctx)
	if context.Cause(sctx) != cause {
		return false, err
	}
	if err != nil && isCancellationOf(sctx, err) {
		err = nil
	}
	return true, err
}

// FailAfter runs fn with a context that is cancelled after d, and returns
// when fn does. It is Trio's fail_after: when this scope's own deadline fired
// and fn returned nil or the cancellation error, FailAfter returns an error
// matching [ErrTooSlow] (and context.DeadlineExceeded). A genuine error from
// fn is returned as it is. A d of zero or less cancels fn at once.
func FailAfter(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) error {
	return FailAt(ctx, time.Now().Add(d), fn)
}

// FailAt is [FailAfter] with an absolute deadline.
func FailAt(ctx context.Context, deadline time.Time, fn func(ctx context.Context) error) error {
	if fn == nil {
		panic("nursery: FailAt called with a nil fn")
	}
	timedOut, err := MoveOnAt(ctx, deadline, fn)
	if timedOut && err == nil {
		return fmt.Errorf("%w: scope deadline %s passed: %w", ErrTooSlow,
			deadline.Format(time.RFC3339Nano), context.DeadlineExceeded)
	}
	return err
}

// Shield returns a context for cleanup work that must run even though ctx
// was cancelled: it keeps ctx's values, ignores ctx's cancellation and
// deadline, and is cancelled after its own timeout d (at once if d <= 0).
// Call the CancelFunc when the cleanup is done, as with
// [context.WithTimeout].
func Shield(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}
