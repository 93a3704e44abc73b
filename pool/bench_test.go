package pool_test

import (
	"context"
	"testing"

	concpool "github.com/sourcegraph/conc/pool"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/pool"
)

// BenchmarkSubmit measures one task's round trip through the pool, one at a
// time, beside its floor: the same call made directly on an actor.
func BenchmarkSubmit(b *testing.B) {
	b.Run("actor-call", func(b *testing.B) {
		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "bench")
			if err != nil {
				return err
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := noop.Call(ctx, ref, i); err != nil {
					return err
				}
			}
			b.StopTimer()
			n.Cancel(nil)
			return nil
		})
		require.NoError(b, err)
	})
	b.Run("submit", func(b *testing.B) {
		p, err := pool.New(context.Background(), pool.WithWorkers(1))
		require.NoError(b, err)
		defer p.Shutdown(context.Background(), true)
		_, _ = pool.Submit(p, noop, 0).Result(context.Background()) // warm: the worker is up
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := pool.Submit(p, noop, i).Result(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMap measures the cost per tiny task of Map with automatic
// batching over two workers, beside conc's goroutine pool doing the same
// work in-process (the floor: no process boundary at all).
func BenchmarkMap(b *testing.B) {
	b.Run("grove", func(b *testing.B) {
		p, err := pool.New(context.Background(), pool.WithWorkers(2))
		require.NoError(b, err)
		defer p.Shutdown(context.Background(), true)
		for range pool.Map(context.Background(), p, noop, rangeN(2)) { // warm
		}
		b.ReportAllocs()
		b.ResetTimer()
		for _, err := range pool.Map(context.Background(), p, noop, rangeN(b.N)) {
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("conc", func(b *testing.B) {
		cp := concpool.NewWithResults[int]().WithMaxGoroutines(2)
		b.ReportAllocs()
		for i := range b.N {
			cp.Go(func() int { return i })
		}
		_ = cp.Wait()
	})
}
