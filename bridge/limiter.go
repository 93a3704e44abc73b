package bridge

import (
	"context"
	"fmt"

	"golang.org/x/sync/semaphore"
)

// DefaultLimit is the size of the default Limiter: how many offloaded
// calls (RunSync from a loop, Go) run at once unless a ctx carries another
// limiter. It is Trio's default for to_thread.
const DefaultLimit = 40

// A Limiter bounds how many offloaded calls run at once (Trio's
// CapacityLimiter). Give a class of jobs its own limiter with
// [WithLimiter]; nested calls of the same limiter (a RunSync inside work the
// limiter already admitted) pass without taking a second slot, so nesting
// never deadlocks on one limiter.
type Limiter struct {
	sem  *semaphore.Weighted
	size int
}

// NewLimiter returns a limiter of n slots. It panics if n < 1.
func NewLimiter(n int) *Limiter {
	if n < 1 {
		panic("bridge: NewLimiter needs n >= 1")
	}
	return &Limiter{sem: semaphore.NewWeighted(int64(n)), size: n}
}

// Size returns the number of slots.
func (l *Limiter) Size() int { return l.size }

// defaultLimiter is shared by every offload without a limiter of its own.
var defaultLimiter = NewLimiter(DefaultLimit)

type limiterKey struct{}

// WithLimiter returns a ctx under which RunSync and Go use l.
func WithLimiter(ctx context.Context, l *Limiter) context.Context {
	return context.WithValue(ctx, limiterKey{}, l)
}

func limiterOf(ctx context.Context) *Limiter {
	if l, ok := ctx.Value(limiterKey{}).(*Limiter); ok {
		return l
	}
	return defaultLimiter
}

// acquire takes a slot of ctx's limiter, honouring ctx, unless the work
// holding ctx already holds one. If no slot is free, waiting is called
// before it waits (with true) and after (with false). It returns the slots
// the work holds then, for [holding], the new one kept in into if into is
// not nil, and the limiter to give the slot back to when the work is done
// (nil when it took none).
func acquire(ctx context.Context, waiting func(lim *Limiter, now bool), into *slot) (held *slot, taken *Limiter, err error) {
	lim := limiterOf(ctx)
	if f := frameOf(ctx); f != nil {
		held = f.held
	}
	if held.has(lim) {
		return held, nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("bridge: waiting for the offload limiter: %w", err)
	}
	if !lim.sem.TryAcquire(1) {
		if waiting != nil {
			waiting(lim, true)
			defer waiting(lim, false)
		}
		if err := lim.sem.Acquire(ctx, 1); err != nil {
			return nil, nil, fmt.Errorf("bridge: waiting for the offload limiter: %w", err)
		}
	}
	if into == nil {
		into = new(slot)
	}
	*into = slot{lim: lim, next: held}
	return into, lim, nil
}

// release gives back the slot acquire took, if it took one.
func (l *Limiter) release() {
	if l != nil {
		l.sem.Release(1)
	}
}
