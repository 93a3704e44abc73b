package bridge_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/grove-rt/grove/bridge"
)

func work(context.Context) (int, error) { return 1, nil }

// BenchmarkRunSync measures RunSync from code on a loop (a goroutine and a
// fresh loop per call) beside calling the function directly.
func BenchmarkRunSync(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		ctx := context.Background()
		for range b.N {
			_, _ = work(ctx)
		}
	})
	b.Run("from-loop", func(b *testing.B) {
		l := bridge.NewLoop()
		_ = l.Post(func(ctx context.Context) {
			defer l.Stop()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := bridge.RunSync(ctx, work); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = l.Run(context.Background())
	})
}

// BenchmarkCall measures Call from another goroutine beside a bare channel
// round trip between two goroutines.
func BenchmarkCall(b *testing.B) {
	b.Run("channel", func(b *testing.B) {
		req, resp := make(chan int), make(chan int)
		go func() {
			for v := range req {
				resp <- v
			}
			close(resp)
		}()
		for i := range b.N {
			req <- i
			<-resp
		}
		close(req)
		<-resp
	})
	b.Run("call", func(b *testing.B) { benchCall(b, context.Background(), context.Background()) })
	b.Run("call-cancellable", func(b *testing.B) { // as grove-bench calls: the loop's ctx
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		benchCall(b, ctx, ctx)
	})
	b.Run("call-own-ctx", func(b *testing.B) { // a cancellable ctx of the caller's own
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		own, stop := context.WithCancel(ctx)
		defer stop()
		benchCall(b, ctx, own)
	})
}

// benchCall measures Call onto a loop that runs under ctx, from another
// goroutine calling with caller.
func benchCall(b *testing.B, ctx, caller context.Context) {
	l := bridge.NewLoop()
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := bridge.Call(caller, l, work); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	l.Stop()
	<-done
}

// BenchmarkPost measures Post throughput: posting and running a callback.
func BenchmarkPost(b *testing.B) {
	l := bridge.NewLoop()
	done := make(chan error)
	go func() { done <- l.Run(context.Background()) }()
	b.ReportAllocs()
	for range b.N {
		_ = l.Post(func(context.Context) {})
	}
	l.Stop()
	<-done
}

// BenchmarkRunSyncNested measures RunSync nested depth levels deep from a
// loop, per level: it should not grow with the depth.
func BenchmarkRunSyncNested(b *testing.B) {
	for _, depth := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			var down func(ctx context.Context, n int) (int, error)
			down = func(ctx context.Context, n int) (int, error) {
				if n == 0 {
					return 0, nil
				}
				return bridge.RunSync(ctx, func(ctx context.Context) (int, error) { return down(ctx, n-1) })
			}
			l := bridge.NewLoop()
			_ = l.Post(func(ctx context.Context) {
				defer l.Stop()
				b.ResetTimer()
				for range b.N {
					if _, err := down(ctx, depth); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*depth), "ns/level")
			})
			_ = l.Run(context.Background())
		})
	}
}
