package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/grove-rt/grove/actor"
)

// A Future is the result of a task submitted with [Submit].
type Future[Out any] struct {
	cancel context.CancelCauseFunc
	stop   func() bool // stops the watch of Submit's ctx, if it has one
	done   chan struct{}
	once   sync.Once
	out    Out
	err    error
	end    func(error) // the instrumentation's, if any (instrument.go)
}

func newFuture[Out any]() *Future[Out] { return &Future[Out]{done: make(chan struct{})} }

// complete answers the future, once.
func (f *Future[Out]) complete(out Out, err error) { f.answer(out, err, true) }

// answer is complete; the watch of Submit's ctx, which may fire before
// Submit has set f.stop, calls it with unwatch false.
func (f *Future[Out]) answer(out Out, err error, unwatch bool) {
	f.once.Do(func() {
		f.out, f.err = out, err
		close(f.done)
		if f.end != nil {
			f.end(err)
		}
		if f.cancel != nil {
			f.cancel(nil)
		}
		if unwatch && f.stop != nil {
			f.stop()
		}
	})
}

// Done returns a channel closed when the result is ready.
func (f *Future[Out]) Done() <-chan struct{} { return f.done }

// Result waits for the task's result, honouring ctx (a ctx that ends here
// does not cancel the task; Submit's ctx and [Future.Cancel] do). Errors:
// the task's [*actor.RemoteError]; its worker's [*actor.ExitError] (only if
// the task had begun: one handed to a worker that died first runs on
// another); an encode or decode error, or the [*nursery.PanicError] of a
// panic in the argument's encoder or the result's decoder; [ErrShutdown]
// (a task that [Pool.Close] cut, or one submitted after a Shutdown);
// [ErrBroken] (also for a task cut by the break); Submit's ctx's error (its
// cause) once that ctx has ended; context.Canceled after Cancel.
func (f *Future[Out]) Result(ctx context.Context) (Out, error) {
	select {
	case <-f.done:
		return f.out, f.err
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// Cancel cancels the task: a queued task never runs, a running one has its
// ctx cancelled in the worker. Its result is then, at once, an error
// matching context.Canceled (unless it had finished): a queued task does not
// wait for a worker to come free to answer.
func (f *Future[Out]) Cancel() {
	if f.cancel != nil {
		f.cancel(errCancel)
		var zero Out
		f.complete(zero, errCancel)
	}
}

// errCancel is the cause of a task's ctx cancelled by its future's Cancel.
var errCancel = fmt.Errorf("pool: Future.Cancel: %w", context.Canceled)

// Submit queues fn(in) on the pool and returns its future at once. It
// costs an allocation or two and no syscall (three more when ctx can end:
// the watch of ctx); the task starts on the next free worker (spawning one
// if the pool has fewer than its size).
//
// ctx is the task's, as for [actor.Function.Call] (or the ctx of
// exec.CommandContext): when it ends, the future answers at once with ctx's
// error (context.Cause). A task still queued is then dropped, never sent to
// a worker; a running one has its ctx cancelled in the worker, as a Call's
// is, and the worker serves on (a function that ignores its ctx runs to its
// end there, beside the worker's next tasks). A nil ctx, pool or function
// gives a future that fails at once, saying so.
func Submit[In, Out any](ctx context.Context, p *Pool, fn *actor.Function[In, Out], in In) *Future[Out] {
	f := newFuture[Out]()
	var zero Out
	if err := misuse("Submit", p, fn); err != nil {
		f.complete(zero, err)
		return f
	}
	if ctx == nil {
		f.complete(zero, errors.New("pool: Submit: nil ctx: pass the task's ctx (or context.Background())"))
		return f
	}
	if ctx.Err() != nil {
		f.complete(zero, context.Cause(ctx))
		return f
	}
	tctx, cancel := context.WithCancelCause(ctx)
	f.cancel = cancel
	tctx, f.end = observeTask(tctx, fn.Name())
	if ctx.Done() != nil { // the future answers when ctx ends, even while the task waits in the queue
		f.stop = context.AfterFunc(ctx, func() { f.answer(zero, context.Cause(ctx), false) })
	}
	t := &task{ctx: tctx, fail: func(err error) { f.complete(zero, err) }}
	t.run = func(wctx context.Context, ref *actor.Ref) error {
		out, err := fn.Call(tctx, ref, in)
		switch {
		case err == nil:
			f.complete(out, nil)
			return nil
		case errors.Is(err, actor.ErrNotStarted):
			p.requeue(t, err) // it never ran: another worker runs it
		case tctx.Err() != nil:
			f.complete(zero, context.Cause(tctx)) // Submit's ctx, or Cancel (already answered)
		default:
			f.complete(zero, p.cut(wctx, ref, err)) // a kill by Close, or a break, is the news
		}
		if died(ref, err) {
			return err // the worker died under its task
		}
		return nil
	}
	p.enqueue(t)
	return f
}
