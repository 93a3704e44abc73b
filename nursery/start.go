package nursery

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrNotStarted is returned by [Start] when the child returned nil without
// calling started.
var ErrNotStarted = errors.New("nursery: child returned without calling started")

// States of a child started with Start.
const (
	pending  int32 = iota // started not called yet; Start is waiting
	running               // started called; the child belongs to the nursery
	returned              // fn has returned
)

type startResult[T any] struct {
	v   T
	err error
}

// Start is Trio's nursery.start: it starts fn as a child of n and blocks
// until fn calls started(v), then returns v. Use it for a task that must be
// ready (listening, connected, spawned) before the caller goes on.
//
// Until started is called, fn belongs to the caller: an error (or panic)
// before started is returned by Start and does not cancel the nursery; a fn
// that returns nil without calling started makes Start return
// [ErrNotStarted]. After started, fn is a child of n like any other and its
// error goes to the nursery. A pending Start keeps the nursery open. Start on
// a nursery that is already cancelled returns a cancellation error at once
// without running fn.
//
// started must be called at most once, from fn's goroutine or any other,
// while fn runs: a second call, or a call after fn returned, panics.
// Start panics if n or fn is nil or if n's Run has returned.
func Start[T any](n *Nursery, fn func(ctx context.Context, started func(T)) error) (T, error) {
	if fn == nil {
		panic("nursery: Start called with a nil fn")
	}
	n.add("Start")
	var zero T
	if n.ctx.Err() != nil {
		n.finish(nil)
		return zero, cancelledError(n.ctx)
	}

	var state atomic.Int32
	ready := make(chan startResult[T], 1)
	started := func(v T) {
		if !state.CompareAndSwap(pending, running) {
			if state.Load() == returned {
				panic("nursery: started called after the child returned")
			}
			panic("nursery: started called twice")
		}
		ready <- startResult[T]{v: v}
	}
	done := func(err error) {
		if state.CompareAndSwap(pending, returned) {
			if err == nil {
				err = ErrNotStarted
			}
			ready <- startResult[T]{err: err}
			n.finish(nil)
			return
		}
		state.Store(returned)
		n.finish(err)
	}

	go func() {
		ok := false
		defer func() {
			if !ok {
				done(errGoexit)
			}
		}()
		err := call(func() error { return fn(n.ctx, started) })
		ok = true
		done(err)
	}()

	r := <-ready
	return r.v, r.err
}

// cancelledError reports that ctx was cancelled; it matches both ctx.Err()
// and context.Cause(ctx).
func cancelledError(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause == nil || cause == err {
		return fmt.Errorf("nursery: Start on a cancelled nursery: %w", err)
	}
	return fmt.Errorf("nursery: Start on a cancelled nursery: %w (cause: %w)", err, cause)
}
