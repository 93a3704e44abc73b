package callbench_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/otelgrove"
	"github.com/grove-rt/grove/pool"
)

// The functions measured, as actor's and pool's benchmarks have them.
var (
	square = actor.Func("callbench.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	count  = actor.StreamFunc("callbench.count", func(ctx context.Context, n int, out chan<- int) error {
		for i := range n {
			select {
			case out <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	noop = actor.Func("callbench.noop", func(ctx context.Context, x int) (int, error) { return x, nil })
)

// ended counts the spans this process ended: a processor that keeps none
// (tracetest's SpanRecorder keeps every span, which would be its cost,
// not otelgrove's), so that what is measured is otelgrove and the SDK's
// span and metric recording.
var ended atomic.Int64

type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     { ended.Add(1) }
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

func TestMain(m *testing.M) {
	// The children run this too (actor.Main serves them), so that a
	// process actor's server spans are measured as well.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(discard{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	otelgrove.Install(otelgrove.WithTracerProvider(tp), otelgrove.WithMeterProvider(mp))
	actor.Main()
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}

// TestTraced checks what the benchmarks measure is traced: each form ends
// its spans in this process, and leaves no child behind.
func TestTraced(t *testing.T) {
	proctest.NoChildrenLeft(t)
	before := ended.Load()
	withActor(t, func(ctx context.Context, ref *actor.Ref) {
		got, err := square.Call(ctx, ref, 3)
		require.NoError(t, err)
		require.Equal(t, 9, got)
		s, err := count.Open(ctx, ref, 3)
		require.NoError(t, err)
		n := 0
		for range s.C {
			n++
		}
		require.NoError(t, s.Err())
		require.Equal(t, 3, n)
	})
	p, err := pool.New(context.Background(), pool.WithWorkers(1))
	require.NoError(t, err)
	got, err := pool.Submit(context.Background(), p, noop, 4).Result(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4, got)
	require.NoError(t, p.Close())
	// At least the client spans of the call, the stream and the pool's
	// call, and the pool task's and the spawns'.
	require.GreaterOrEqual(t, ended.Load()-before, int64(5))
}

// BenchmarkCall is actor's BenchmarkCall/grove, traced: a call round trip
// with a small payload.
func BenchmarkCall(b *testing.B) {
	withActor(b, func(ctx context.Context, ref *actor.Ref) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := square.Call(ctx, ref, i); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStream is actor's BenchmarkStream, traced: b.N items of one
// stream (one span for the whole stream, one count per item).
func BenchmarkStream(b *testing.B) {
	withActor(b, func(ctx context.Context, ref *actor.Ref) {
		b.ReportAllocs()
		b.ResetTimer()
		s, err := count.Open(ctx, ref, b.N)
		if err != nil {
			b.Fatal(err)
		}
		items := 0
		for range s.C {
			items++
		}
		if err := s.Err(); err != nil || items != b.N {
			b.Fatal(items, err)
		}
	})
}

// BenchmarkSubmit is pool's BenchmarkSubmit/submit, traced: one task's
// round trip through a one-worker pool, one at a time.
func BenchmarkSubmit(b *testing.B) {
	p, err := pool.New(context.Background(), pool.WithWorkers(1))
	require.NoError(b, err)
	defer func() { require.NoError(b, p.Close()) }()
	_, _ = pool.Submit(context.Background(), p, noop, 0).Result(context.Background()) // warm: the worker is up
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := pool.Submit(context.Background(), p, noop, i).Result(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// withActor runs fn with a freshly spawned actor, reaped afterwards.
func withActor(tb testing.TB, fn func(ctx context.Context, ref *actor.Ref)) {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "bench")
		if err != nil {
			return err
		}
		fn(ctx, ref)
		n.Cancel(nil)
		return nil
	})
	require.NoError(tb, err)
}
