package pool

import (
	"context"
	"errors"
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
}

func newFuture[Out any]() *Future[Out] { return &Future[Out]{done: make(chan struct{})} }

func (f *Future[Out]) complete(out Out, err error) {
	f.once.Do(func() {
		f.out, f.err = out, err
		close(f.done)
		if f.cancel != nil {
			f.cancel(nil)
		}
	})
}

// Done returns a channel closed when the result is ready.
func (f *Future[Out]) Done() <-chan struct{} { return f.done }

// Result waits for the task's result, honouring ctx (a ctx that ends does
// not cancel the task; [Future.Cancel] does). Errors: the task's
// [*actor.RemoteError]; its worker's [*actor.ExitError]; an encode or decode
// error; [ErrShutdown]; [ErrBroken]; context.Canceled after Cancel.
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
		f.cancel(context.Canceled)
	}
}

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
	p.enqueue(&task{
		ctx:  ctx,
		fail: func(err error) { f.complete(zero, err) },
		run: func(_ context.Context, ref *actor.Ref) error {
			out, err := fn.Call(ctx, ref, in)
			if ctx.Err() != nil && err != nil && context.Cause(ctx) == context.Canceled {
				err = context.Canceled // cancelled by the future's Cancel
			}
			if err != nil {
				err = p.shutdownError(err) // a kill by Shutdown is the news
			}
			var ee *actor.ExitError
			if errors.As(err, &ee) {
				f.complete(zero, err)
				return ee // the worker died under its task
			}
			f.complete(out, err)
			return nil
		},
	})
	return f
}
