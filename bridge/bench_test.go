package bridge_test

import (
	"context"
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
	b.Run("call", func(b *testing.B) {
		l := bridge.NewLoop()
		done := make(chan error)
		go func() { done <- l.Run(context.Background()) }()
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := bridge.Call(ctx, l, work); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		l.Stop()
		<-done
	})
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
