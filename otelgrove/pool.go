package otelgrove

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/pool"
	"github.com/grove-rt/grove/supervise"
)

var (
	_ pool.Instrumentation      = (*instrumentation)(nil)
	_ supervise.Instrumentation = (*instrumentation)(nil)
)

// pools holds the queue depths of the live pools, which the queue-depth
// gauge's callback observes.
type pools struct {
	mu     sync.Mutex
	depths map[*func() int]struct{}
}

// observe is the gauge's callback: the depth of every live pool, summed.
func (ps *pools) observe(_ context.Context, o metric.Int64Observer) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var n int64
	for d := range ps.depths {
		n += int64((*d)())
	}
	o.Observe(n)
	return nil
}

// PoolStarted implements pool.Instrumentation: the pool's queue joins the
// gauge until it ends.
func (i *instrumentation) PoolStarted(depth func() int) (ended func()) {
	key := &depth
	i.pools.mu.Lock()
	i.pools.depths[key] = struct{}{}
	i.pools.mu.Unlock()
	return func() {
		i.pools.mu.Lock()
		delete(i.pools.depths, key)
		i.pools.mu.Unlock()
	}
}

// PoolTask implements pool.Instrumentation: a span from the task's
// submission to its end, the parent of its call to the worker.
func (i *instrumentation) PoolTask(ctx context.Context, fn string) (context.Context, func(error)) {
	o := i.tasks.get(fn, func() *taskOpts {
		return &taskOpts{name: "grove.pool.task " + fn,
			start: []trace.SpanStartOption{internalKind, trace.WithAttributes(rpcMethodKey.String(fn))}}
	})
	ctx, span := i.tracer.Start(ctx, o.name, o.start...)
	return ctx, func(err error) {
		fail(span, err)
		span.End()
	}
}

// taskOpts are a pool task span's name and options, built once per
// function.
type taskOpts struct {
	name  string
	start []trace.SpanStartOption
}

// PoolWorkerDied implements pool.Instrumentation: the deaths counter.
func (i *instrumentation) PoolWorkerDied(err error) {
	i.deaths.Add(context.Background(), 1, metric.WithAttributes(errorTypeKey.String(actor.ErrorType(err))))
}

// SupervisorRestart implements supervise.Instrumentation: a span for the
// restart of child, until it has started again. The child's name is an
// attribute of the span, neither its name nor an attribute of the
// counter: children started with StartChild may be named by an id (a
// session's, a connection's), and a series or span name per id would
// grow without end.
func (i *instrumentation) SupervisorRestart(ctx context.Context, child string, restarts int) func(error) {
	attrs := []attribute.KeyValue{ChildKey.String(child), RestartsKey.Int(restarts)}
	_, span := i.tracer.Start(ctx, "grove.supervise.restart", internalKind,
		trace.WithAttributes(attrs...))
	i.restarts.Add(ctx, 1)
	return func(err error) {
		fail(span, err)
		span.End()
	}
}
