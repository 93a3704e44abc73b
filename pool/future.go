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
	done   chan struct{}
	once   sync.Once
	out    Out
	err    error
	end    func(error) // the instrumentation's, if any (instrument.go)
}

func newFuture[Out any]() *Future[Out] { return &Future[Out]{done: make(chan struct{})} }

func (f *Future[Out]) complete(out Out, err error) {
	f.once.Do(func() {
		f.out, f.err = out, err
		close(f.done)
		if f.end != nil {
			f.end(err)
		}
		if f.cancel != nil {
			f.cancel(nil)
		}
	})
}

// Done returns a channel closed when the result is ready.
func (f *Future[Out]) Done() <-chan struct{} { return f.done }

// Result waits for the task's result, honouring ctx (a ctx that ends does
// not cancel the task; [Future.Cancel] does). Errors: the task's
// [*actor.RemoteError]; its worker's [*actor.ExitError] (only if the task
// had begun: one handed to a worker that died first runs on another); an
// encode or decode error, or the [*nursery.PanicError] of a panic in the
// argument's encoder or the result's decoder; [ErrShutdown]; [ErrBroken]
// (also for a task cut by the break); context.Canceled after Cancel.
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
// ctx cancelled in the worker. Its result is then context.Canceled (unless
// it had finished).
func (f *Future[Out]) Cancel() {
	if f.cancel != nil {
		f.cancel(errCancel)
	}
}

// errCancel is the cause of a task's ctx cancelled by its future's Cancel.
var errCancel = fmt.Errorf("pool: Future.Cancel: %w", context.Canceled)

// Submit queues fn(in) on the pool and returns its future at once. It
// costs an allocation or two and no syscall; the task starts on the next
// free worker (spawning one if the pool has fewer than its size). A nil
// pool or function gives a future that fails at once, saying so.
func Submit[In, Out any](p *Pool, fn *actor.Function[In, Out], in In) *Future[Out] {
	f := newFuture[Out]()
	var zero Out
	if err := misuse("Submit", p, fn); err != nil {
		f.complete(zero, err)
		return f
	}
	ctx, cancel := context.WithCancelCause(p.ctx)
	f.cancel = cancel
	ctx, f.end = observeTask(ctx, fn.Name())
	t := &task{ctx: ctx, fail: func(err error) { f.complete(zero, err) }}
	t.run = func(wctx context.Context, ref *actor.Ref) error {
		out, err := fn.Call(ctx, ref, in)
		switch {
		case err == nil:
			f.complete(out, nil)
			return nil
		case errors.Is(err, actor.ErrNotStarted):
			p.requeue(t, err) // it never ran: another worker runs it
		case context.Cause(ctx) == errCancel:
			f.complete(zero, context.Canceled)
		default:
			f.complete(zero, p.cut(wctx, ref, err)) // a kill by Shutdown, or a break, is the news
		}
		if died(ref, err) {
			return err // the worker died under its task
		}
		return nil
	}
	p.enqueue(t)
	return f
}
