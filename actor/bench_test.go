package actor_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// BenchmarkSpawn measures spawn to the first completed call, beside its
// floor: a bare exec of the same binary that writes one byte on an
// inherited socketpair. Teardown is outside the timed region in both.
func BenchmarkSpawn(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		for range b.N {
			nc, cmd := startFloor(b, "byte")
			var one [1]byte
			_, err := io.ReadFull(nc, one[:])
			require.NoError(b, err)
			b.StopTimer()
			nc.Close()
			require.NoError(b, cmd.Wait())
			b.StartTimer()
		}
	})
	b.Run("grove", func(b *testing.B) {
		for range b.N {
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				ref, err := actor.Spawn(ctx, n, "bench")
				if err != nil {
					return err
				}
				if _, err := square.Call(ctx, ref, 3); err != nil {
					return err
				}
				b.StopTimer()
				n.Cancel(nil)
				return nil
			})
			require.NoError(b, err)
			b.StartTimer()
		}
	})
}

// BenchmarkCall measures a call round trip with a small payload, beside a
// bare 64-byte socketpair ping-pong with a child process.
func BenchmarkCall(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		nc, cmd := startFloor(b, "pingpong")
		defer func() {
			nc.Close()
			_ = cmd.Wait()
		}()
		var buf [64]byte
		b.ResetTimer()
		for range b.N {
			if _, err := nc.Write(buf[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(nc, buf[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("grove", func(b *testing.B) {
		withActor(b, func(ctx context.Context, ref *actor.Ref) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := square.Call(ctx, ref, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkStream measures items per second streamed from an actor.
func BenchmarkStream(b *testing.B) {
	withActor(b, func(ctx context.Context, ref *actor.Ref) {
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
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
		b.ReportMetric(float64(items)/time.Since(start).Seconds(), "items/s")
	})
}

// withActor runs fn with a freshly spawned actor, reaped afterwards.
func withActor(b testing.TB, fn func(ctx context.Context, ref *actor.Ref)) {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "bench")
		if err != nil {
			return err
		}
		fn(ctx, ref)
		n.Cancel(nil)
		return nil
	})
	require.NoError(b, err)
}
