package nursery_test

import (
	"context"
	"testing"

	"github.com/sourcegraph/conc"
	"golang.org/x/sync/errgroup"

	"github.com/grove-rt/grove/nursery"
)

// BenchmarkGo measures starting and joining one trivial child in a nursery,
// beside errgroup (with a context, as the nursery has one) and conc's
// WaitGroup. The join is inside the timed region.
func BenchmarkGo(b *testing.B) {
	noop := func(context.Context) error { return nil }
	b.Run("nursery", func(b *testing.B) {
		b.ReportAllocs()
		_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			for range b.N {
				n.Go(noop)
			}
			return nil
		})
	})
	b.Run("errgroup", func(b *testing.B) {
		b.ReportAllocs()
		g, ctx := errgroup.WithContext(context.Background())
		for range b.N {
			g.Go(func() error { return noop(ctx) })
		}
		_ = g.Wait()
	})
	b.Run("conc", func(b *testing.B) {
		b.ReportAllocs()
		var wg conc.WaitGroup
		ctx := context.Background()
		for range b.N {
			wg.Go(func() { _ = noop(ctx) })
		}
		wg.Wait()
	})
}

// BenchmarkRun measures opening and closing an empty nursery.
func BenchmarkRun(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	body := func(context.Context, *nursery.Nursery) error { return nil }
	for range b.N {
		_ = nursery.Run(ctx, body)
	}
}

// BenchmarkStart measures a Start whose child reports ready at once.
func BenchmarkStart(b *testing.B) {
	b.ReportAllocs()
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		for range b.N {
			_, _ = nursery.Start(n, func(ctx context.Context, started func(int)) error {
				started(1)
				return nil
			})
		}
		return nil
	})
}
