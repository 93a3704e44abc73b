package nursery

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
)

// closedBit marks a nursery whose task count reached zero: it takes no more
// children. It sits above any count a process could reach.
const closedBit = int64(1) << 62

// errGoexit is recorded for a task that called [runtime.Goexit] (for
// instance t.FailNow in a test goroutine) instead of returning.
var errGoexit = errors.New("nursery: task called runtime.Goexit instead of returning")

// A Nursery owns the goroutines started with [Nursery.Go] and [Start]. It is
// created by [Run] and is valid until Run returns; the zero value is not
// usable.
type Nursery struct {
	ctx    context.Context
	cancel context.CancelCauseFunc

	// tasks counts the body and every running child; closedBit is set when
	// it reaches zero, after which allDone is closed.
	tasks   atomic.Int64
	allDone chan struct{}

	mu         sync.Mutex
	errs       []error
	selfCancel bool          // the nursery cancelled itself (an error or Cancel)
	bodyEnded  bool          // the body has returned
	bodyDone   chan struct{} // made by BodyDone, closed once the body has returned
}

// Run opens a nursery, runs body in it on the calling goroutine, and returns
// only when body and every child started in the nursery have returned.
//
// body and the children receive the nursery's context, which is cancelled
// when any of them fails, when [Nursery.Cancel] is called, or when ctx is
// cancelled. Run returns nil when nothing failed (a [Nursery.Cancel] is not a
// failure), the single error when one task failed, and otherwise an error that
// holds every failure (see [Errors]). If ctx was cancelled from outside while
// the nursery ran, Run's error also matches ctx.Err().
//
// Opening a nursery costs one context and two small allocations of its own
// (four allocations, about 300 bytes, in all: BenchmarkRun); it starts no
// goroutine of its own.
func Run(ctx context.Context, body func(ctx context.Context, n *Nursery) error) (err error) {
	if ctx == nil {
		panic("nursery: Run called with a nil context")
	}
	if body == nil {
		panic("nursery: Run called with a nil body")
	}
	n := &Nursery{allDone: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancelCause(ctx)
	n.tasks.Store(1) // the body

	returned := false
	defer func() {
		if !returned {
			// body called runtime.Goexit: the goroutine is going away, but
			// the children must not outlive it.
			n.endBody()
			n.finish(errGoexit)
			<-n.allDone
			n.cancel(nil)
		}
	}()
	berr := call(func() error { return body(n.ctx, n) })
	returned = true
	n.endBody()
	n.finish(berr)
	<-n.allDone
	return n.result(ctx)
}

// BodyDone returns a channel that is closed once the nursery's body has
// returned, while Run may still wait for children. A task that lives until
// it is cancelled (an actor) uses it to notice a body that returned without
// cancelling it. The first call costs a channel; it never blocks.
func (n *Nursery) BodyDone() <-chan struct{} {
	if n == nil {
		panic("nursery: BodyDone called on a nil *Nursery")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bodyDone == nil {
		n.bodyDone = make(chan struct{})
		if n.bodyEnded {
			close(n.bodyDone)
		}
	}
	return n.bodyDone
}

// endBody records that the body has returned.
func (n *Nursery) endBody() {
	n.mu.Lock()
	n.bodyEnded = true
	if n.bodyDone != nil {
		close(n.bodyDone)
	}
	n.mu.Unlock()
}

// Go starts fn as a child of the nursery, in a new goroutine, and returns at
// once. fn receives the nursery's context. It may be called from the body,
// from a child, or from any goroutine, as long as Run has not returned:
// children may start more children while Run waits for them. Go on a
// cancelled nursery still starts fn, whose context is already done.
//
// A child costs one goroutine, one allocation and two atomics: about what
// a go statement with a sync.WaitGroup costs (429 ns against 464 ns a
// child in README's figure 6; DESIGN.md has the measurements). Go panics
// if fn is nil or if the nursery's Run has returned.
func (n *Nursery) Go(fn func(ctx context.Context) error) {
	if fn == nil {
		panic("nursery: Go called with a nil fn")
	}
	n.add("Go")
	go n.runChild(n.ctx, fn) // ctx read here: the child touches only the count on n's contended line
}

// Cancel cancels the nursery's context, and with it the body and every
// child, with cause as the [context.Cause] (context.Canceled when cause is
// nil). It does not wait. A cancel is a clean stop, as in Trio: if no task
// failed, Run returns nil. Cancel after Run has returned does nothing.
func (n *Nursery) Cancel(cause error) {
	if n == nil {
		panic("nursery: Cancel called on a nil *Nursery")
	}
	n.mu.Lock()
	if n.ctx.Err() == nil {
		n.selfCancel = true
	}
	n.mu.Unlock()
	n.cancel(cause)
}

// add registers one more task, panicking if the nursery is nil or closed.
func (n *Nursery) add(op string) {
	if n == nil {
		panic("nursery: " + op + " called on a nil *Nursery")
	}
	if n.tasks.Add(1)&closedBit != 0 {
		panic("nursery: " + op + " called on a closed nursery (its Run has returned)")
	}
}

// runChild is the body of a child goroutine started by Go. One deferred
// function both recovers a panic and tells a Goexit from it, so a child
// costs no closure and no atomic beyond its count (conc's panics.Catcher,
// used before, cost an allocation and an atomic load per child).
func (n *Nursery) runChild(ctx context.Context, fn func(ctx context.Context) error) {
	var err error
	returned := false
	defer func() {
		if !returned {
			if p := recover(); p != nil {
				err = panicError(p)
			} else {
				// Nothing to recover: fn called runtime.Goexit (or, under
				// GODEBUG=panicnil=1 only, panic(nil), which recovers as
				// nil; since Go 1.21 it is a *runtime.PanicNilError).
				err = errGoexit
			}
		}
		n.finish(err)
	}()
	err = fn(ctx)
	returned = true
}

// finish records a task's outcome and retires it; the last task to finish
// closes the nursery.
func (n *Nursery) finish(err error) {
	if err != nil {
		n.record(err)
	}
	if n.tasks.Add(-1) == 0 && n.tasks.CompareAndSwap(0, closedBit) {
		close(n.allDone)
	}
}

// record keeps the genuine failures in err, dropping the echoes of the
// nursery's own cancellation, and cancels the nursery on the first genuine
// one.
func (n *Nursery) record(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	kept := len(n.errs)
	n.errs = appendGenuine(n.errs, n.ctx, err)
	if len(n.errs) > kept && n.ctx.Err() == nil {
		n.selfCancel = true
		n.cancel(n.errs[kept])
	}
}

// result builds Run's return value once every task has finished.
func (n *Nursery) result(parent context.Context) error {
	n.mu.Lock()
	errs := n.errs
	if !n.selfCancel && n.ctx.Err() != nil {
		// Cancelled from outside: report it the way Go code expects.
		if perr := parent.Err(); perr != nil {
			errs = append(errs, perr)
		}
	}
	n.mu.Unlock()
	n.cancel(context.Canceled) // release the context's resources
	return join(errs)
}

// appendGenuine appends to errs the failures in err that are not echoes of
// ctx's cancellation. A bare group (a nested nursery's, or errors.Join's) is
// taken apart, so that a genuine member survives beside the echoes it was
// joined with; any other error is kept or dropped whole.
func appendGenuine(errs []error, ctx context.Context, err error) []error {
	if members, ok := bareGroup(err); ok {
		for _, m := range members {
			errs = appendGenuine(errs, ctx, m)
		}
		return errs
	}
	if err == nil {
		return errs
	}
	// One failure that two tasks report (an actor's death, which its caller
	// returns, perhaps wrapped, and its own task reports too) is kept once,
	// in the words of whichever says more.
	for i, e := range errs {
		switch {
		case reports(e, err):
			return errs
		case reports(err, e):
			errs[i] = err
			return errs
		}
	}
	if isCancellationOf(ctx, err) {
		return errs
	}
	return append(errs, err)
}

// reports reports whether outer is the failure inner, or wraps it: inner
// is comparable and errors.Is finds it in outer.
func reports(outer, inner error) bool {
	return reflect.TypeOf(inner).Comparable() && errors.Is(outer, inner)
}

// isCancellationOf reports whether err is the echo of ctx's cancellation:
// ctx is done and every branch of err's tree ends in its error or its cause.
// A panic is never an echo.
func isCancellationOf(ctx context.Context, err error) bool {
	cerr := ctx.Err()
	if cerr == nil {
		return false
	}
	return isEcho(err, cerr, context.Cause(ctx))
}

// isEcho is errors.Is(err, targets...) with one difference: an error that
// joins several (Unwrap() []error) is an echo only if all of them are, so
// that a genuine error joined with a cancellation is not mistaken for it.
func isEcho(err error, targets ...error) bool {
	if err == nil || isPanic(err) {
		return false
	}
	for _, target := range targets {
		if target == nil {
			continue
		}
		if reflect.TypeOf(target).Comparable() && err == target {
			return true
		}
		if x, ok := err.(interface{ Is(error) bool }); ok && x.Is(target) {
			return true
		}
	}
	switch x := err.(type) {
	case interface{ Unwrap() error }:
		return isEcho(x.Unwrap(), targets...)
	case interface{ Unwrap() []error }:
		members := x.Unwrap()
		for _, m := range members {
			if !isEcho(m, targets...) {
				return false
			}
		}
		return len(members) > 0
	}
	return false
}
