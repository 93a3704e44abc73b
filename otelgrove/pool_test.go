package otelgrove_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/pool"
	"github.com/grove-rt/grove/supervise"
)

// Square is a pool task.
var Square = actor.Func("otelgrove_test.Square", func(ctx context.Context, x int) (int, error) { return x * x, nil })

// Crash ends its worker's process.
var Crash = actor.Func("otelgrove_test.Crash", func(ctx context.Context, _ int) (int, error) {
	os.Exit(3)
	return 0, nil
})

// TestPoolTaskCarriesTheTrace maps over a pool and submits a task: each
// batch, and the Submit, is a task span of the caller's trace, the parent
// of its call to the worker, whose server span (in the worker) is its
// child.
func TestPoolTaskCarriesTheTrace(t *testing.T) {
	proctest.NoChildrenLeft(t)
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx, root := tracer.Start(ctx, "test")
	p, err := pool.New(ctx, pool.WithWorkers(1), pool.WithEnv(spansEnv+"="+path))
	require.NoError(t, err)
	sum := 0
	for out, err := range pool.Map(ctx, p, Square, slices.Values([]int{1, 2, 3})) {
		require.NoError(t, err)
		sum += out
	}
	require.Equal(t, 14, sum)
	got, err := pool.Submit(ctx, p, Square, 4).Result(ctx)
	require.NoError(t, err)
	require.Equal(t, 16, got)
	require.NoError(t, p.Shutdown(ctx))
	root.End()
	spans := readSpans(t, path, root.SpanContext().TraceID())
	test := find(t, spans, "test", "internal")
	byParent := map[string][]span{}
	for _, s := range spans {
		byParent[s.Parent] = append(byParent[s.Parent], s)
	}
	var tasks []span
	for _, s := range byParent[test.ID] { // and the spawns of the workers
		if s.Name == "grove.pool.task "+Square.Name() {
			tasks = append(tasks, s)
		}
	}
	require.GreaterOrEqual(t, len(tasks), 2, "the Map's batches and the Submit")
	submits := 0
	for _, task := range tasks { // the task, its call, the worker's serving of it
		require.Len(t, byParent[task.ID], 1)
		client := byParent[task.ID][0]
		require.Equal(t, Square.Name(), client.Name)
		require.Equal(t, "client", client.Kind)
		require.Len(t, byParent[client.ID], 1)
		server := byParent[client.ID][0]
		require.Equal(t, "server", server.Kind)
		// A batch of Map is served by the batch's own function, which
		// names Square inside; a Submit is a unary call of Square.
		require.Equal(t, client.Attrs["grove.call.kind"], server.Attrs["grove.call.kind"])
		if client.Attrs["grove.call.kind"] == "unary" {
			require.Equal(t, Square.Name(), server.Name)
			submits++
		}
	}
	require.Equal(t, 1, submits, "the Submit's task")
}

// TestSupervisorRestartSpan restarts a failing child once: one restart
// span, with the child's name and restart count.
func TestSupervisorRestartSpan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx, root := tracer.Start(ctx, "test")
	var runs atomic.Int32
	err := supervise.Run(ctx, supervise.Spec{Intensity: 1, Period: time.Minute, Children: []supervise.Child{{
		Name: "flaky", Restart: supervise.Transient,
		Run: func(ctx context.Context) error {
			if runs.Add(1) == 1 {
				return errors.New("first run fails")
			}
			return nil
		},
	}}})
	require.NoError(t, err)
	root.End()
	spans := readSpans(t, "", root.SpanContext().TraceID())
	restart := find(t, spans, "grove.supervise.restart flaky", "internal")
	require.Equal(t, "flaky", restart.Attrs["grove.supervise.child"])
	require.Equal(t, "1", restart.Attrs["grove.supervise.restarts"])
}

// TestMetrics checks the metrics after calls, a stream, a pool's tasks
// and a worker's death: calls counted with their latency, live actors
// back to none, stream items, the queue's gauge, the death.
func TestMetrics(t *testing.T) {
	proctest.NoChildrenLeft(t)
	deathsBefore := sumOf(t, collect(t), "grove.pool.worker.deaths") // the metrics are the process's, over -count runs
	_, err := tree(t, func(ctx context.Context, mid *actor.Ref) error {
		if _, err := Relay.Call(ctx, mid, false); err != nil {
			return err
		}
		s, err := Count.Open(ctx, mid, 10)
		if err != nil {
			return err
		}
		for range s.C {
		}
		return s.Err()
	})
	require.NoError(t, err)
	ctx := context.Background()
	p, err := pool.New(ctx, pool.WithWorkers(1))
	require.NoError(t, err)
	_, err = pool.Submit(ctx, p, Square, 3).Result(ctx)
	require.NoError(t, err)
	if proctest.ProcessBackend() {
		_, err = pool.Submit(ctx, p, Crash, 0).Result(ctx)
		var ee *actor.ExitError
		require.ErrorAs(t, err, &ee)
		// The future has its answer before the pool accounts for the
		// worker's end, which nothing outside the pool can wait on.
		require.Eventually(t, func() bool { return sumOf(t, collect(t), "grove.pool.worker.deaths") == deathsBefore+1 },
			10*time.Second, time.Millisecond)
	}
	require.NoError(t, p.Shutdown(ctx))

	got := collect(t)
	sum := func(name string) int64 { t.Helper(); return sumOf(t, got, name) }
	require.Positive(t, sum("grove.calls"))
	require.GreaterOrEqual(t, sum("grove.stream.items"), int64(10))
	require.Zero(t, sum("grove.actors.live"), "every actor spawned has ended")
	hist, ok := got["grove.call.duration"].(metricdata.Histogram[float64])
	require.True(t, ok)
	require.NotEmpty(t, hist.DataPoints)
	gauge, ok := got["grove.pool.queue.depth"].(metricdata.Gauge[int64])
	require.True(t, ok, "%T", got["grove.pool.queue.depth"])
	for _, dp := range gauge.DataPoints {
		require.Zero(t, dp.Value, "no pool is left, nor a queued task")
	}
	if proctest.ProcessBackend() {
		require.Equal(t, deathsBefore+1, sum("grove.pool.worker.deaths"))
	}
}

// collect reads this process's metrics, by name.
func collect(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	return got
}

// sumOf adds up the data points of an int64 sum; a metric not yet
// recorded is 0.
func sumOf(t *testing.T, got map[string]metricdata.Aggregation, name string) int64 {
	t.Helper()
	if got[name] == nil {
		return 0
	}
	data, ok := got[name].(metricdata.Sum[int64])
	require.True(t, ok, "metric %s: %T", name, got[name])
	var n int64
	for _, dp := range data.DataPoints {
		n += dp.Value
	}
	return n
}
