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
		defer p.Close()
		_, _ = pool.Submit(context.Background(), p, noop, 0).Result(context.Background()) // warm: the worker is up
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := pool.Submit(context.Background(), p, noop, i).Result(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	// submit-ctx is submit under a ctx that can end: the future then
	// watches it (context.AfterFunc), so that a queued task answers when it
	// ends.
	b.Run("submit-ctx", func(b *testing.B) {
		p, err := pool.New(context.Background(), pool.WithWorkers(1))
		require.NoError(b, err)
		defer p.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, _ = pool.Submit(ctx, p, noop, 0).Result(ctx) // warm: the worker is up
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := pool.Submit(ctx, p, noop, i).Result(ctx); err != nil {
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
		defer p.Close()
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
