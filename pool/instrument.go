package pool

import (
	"context"

	"github.com/grove-rt/grove/actor"
)

// Instrumentation observes pools: an [actor.Instrumentation] registered
// with actor.SetInstrumentation that also implements it (as otelgrove's
// does) is told of each pool's tasks, queue and worker deaths. Its methods
// must be safe for concurrent use and must not block.
type Instrumentation interface {
	// PoolTask is called when a task is submitted ([Submit], or one batch
	// of [Map]), with its ctx, and the name of its function; the ctx it
	// returns is the task's, under which it calls its worker. The
	// function it returns is called once, when the task has ended.
	PoolTask(ctx context.Context, fn string) (context.Context, func(err error))
	// PoolStarted is called when a pool starts, with a function that
	// returns its queue's depth (it takes the pool's lock, briefly); the
	// function it returns is called when the pool has ended.
	PoolStarted(depth func() int) (ended func())
	// PoolWorkerDied is called when a worker dies under the pool (not
	// when it is retired or stopped), with its death.
	PoolWorkerDied(err error)
}

// instrumentation returns the registered instrumentation, if it observes
// pools: one atomic load when none is registered.
func instrumentation() Instrumentation {
	i, _ := actor.GetInstrumentation().(Instrumentation)
	return i
}

// observeTask tells the instrumentation, if any, of a task of fn; end is
// nil when there is none.
func observeTask(ctx context.Context, fn string) (context.Context, func(error)) {
	if i := instrumentation(); i != nil {
		return i.PoolTask(ctx, fn)
	}
	return ctx, nil
}

// observeQueue tells the instrumentation, if any, of p's start, and
// returns what to call at its end.
func (p *Pool) observeQueue() (ended func()) {
	if i := instrumentation(); i != nil {
		return i.PoolStarted(func() int {
			p.mu.Lock()
			defer p.mu.Unlock()
			return len(p.queue)
		})
	}
	return func() {}
}

// observeDeath tells the instrumentation, if any, of a worker's death.
func observeDeath(err error) {
	if i := instrumentation(); i != nil {
		i.PoolWorkerDied(err)
	}
}

// firstErr is the first error of errs, for a batch's task as a whole.
func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
