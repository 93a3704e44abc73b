package actor_test

import (
	"context"
	"encoding/binary"
	"fmt"
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

// BenchmarkCallPayload measures an echo of a []byte of each size, beside
// its floor: the same bytes sent to a bare child process over a
// socketpair (after a 4-byte length) and read back whole. Both run in the
// same benchmark, alternated call by call, so the ratio (grove/floor)
// holds on a busy machine.
func BenchmarkCallPayload(b *testing.B) {
	for _, size := range []int{64, 16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			nc, cmd := startFloor(b, "payload")
			defer func() {
				nc.Close()
				_ = cmd.Wait()
			}()
			withActor(b, func(ctx context.Context, ref *actor.Ref) {
				payload := make([]byte, size)
				frame := make([]byte, 4+size)
				binary.BigEndian.PutUint32(frame, uint32(size))
				back := make([]byte, size)
				var spent [2]time.Duration
				b.SetBytes(int64(2 * size))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					start := time.Now()
					if _, err := nc.Write(frame); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(nc, back); err != nil {
						b.Fatal(err)
					}
					spent[0] += time.Since(start)
					start = time.Now()
					out, err := echo.Call(ctx, ref, payload)
					if err != nil || len(out) != size {
						b.Fatal(len(out), err)
					}
					spent[1] += time.Since(start)
				}
				b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "floor-ns/call")
				b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "grove-ns/call")
				b.ReportMetric(float64(spent[1])/float64(spent[0]), "grove/floor")
			})
		})
	}
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

// BenchmarkFind measures Find of a name that one live actor holds, the
// link to it already open: from the root, which holds the registrar, and
// from a child, whose lookup climbs to the root along its parent link.
func BenchmarkFind(b *testing.B) {
	b.Run("root", func(b *testing.B) {
		withActors(b, 1, func(ctx context.Context, refs []*actor.Ref) {
			registerEcho(b, ctx, refs[0], "bench.find")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := actor.Find(ctx, "bench.find"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("child", func(b *testing.B) {
		withActors(b, 2, func(ctx context.Context, refs []*actor.Ref) {
			registerEcho(b, ctx, refs[0], "bench.find")
			benchInActor(b, ctx, refs[1], benchOp{Op: "find", Name: "bench.find"})
		})
	})
}

// BenchmarkRegister measures a Register and the Close of its
// registration: from the root, and from a child, whose registrar is the
// root's along its parent link. Each opens and closes the socket that
// peers dial, as the registrant holds no other registration.
func BenchmarkRegister(b *testing.B) {
	b.Run("root", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for range b.N {
			reg, err := actor.Register(ctx, "bench.register")
			if err != nil {
				b.Fatal(err)
			}
			if err := reg.Close(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("child", func(b *testing.B) {
		withActors(b, 1, func(ctx context.Context, refs []*actor.Ref) {
			benchInActor(b, ctx, refs[0], benchOp{Op: "register", Name: "bench.register"})
		})
	})
}

// BenchmarkPeerCall measures a call round trip, 64 bytes each way, on a
// Ref from Find, beside the same call on the Ref from Spawn: the root to
// its child as a peer, and a child to its sibling. The peer's link is open
// before the timed part.
func BenchmarkPeerCall(b *testing.B) {
	b.Run("parent-child", func(b *testing.B) {
		withActors(b, 1, func(ctx context.Context, refs []*actor.Ref) {
			echoLoop(b, ctx, refs[0])
		})
	})
	b.Run("root-peer", func(b *testing.B) {
		withActors(b, 1, func(ctx context.Context, refs []*actor.Ref) {
			registerEcho(b, ctx, refs[0], "bench.peer")
			peer, err := actor.Find(ctx, "bench.peer")
			require.NoError(b, err)
			echoLoop(b, ctx, peer)
		})
	})
	b.Run("child-peer", func(b *testing.B) {
		withActors(b, 2, func(ctx context.Context, refs []*actor.Ref) {
			registerEcho(b, ctx, refs[0], "bench.peer")
			benchInActor(b, ctx, refs[1], benchOp{Op: "call", Name: "bench.peer"})
		})
	})
	// paired alternates the two Refs to one child, call by call, so that
	// both see the same machine: on a shared machine the round trip
	// shifts between runs by 2x, which separate benchmarks cannot tell
	// from a difference of the paths.
	b.Run("paired", func(b *testing.B) {
		withActors(b, 1, func(ctx context.Context, refs []*actor.Ref) {
			registerEcho(b, ctx, refs[0], "bench.peer")
			peer, err := actor.Find(ctx, "bench.peer")
			require.NoError(b, err)
			var spent [2]time.Duration
			b.ResetTimer()
			for range b.N {
				for i, ref := range []*actor.Ref{refs[0], peer} {
					start := time.Now()
					if _, err := echo.Call(ctx, ref, benchPayload); err != nil {
						b.Fatal(err)
					}
					spent[i] += time.Since(start)
				}
			}
			b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "spawn-ns/call")
			b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "peer-ns/call")
			b.ReportMetric(float64(spent[1])/float64(spent[0]), "peer/spawn")
		})
	})
}

// benchPayload is the payload of the call benchmarks that compare paths.
var benchPayload = make([]byte, 64)

// echoLoop times b.N calls of echo on ref, 64 bytes each way.
func echoLoop(b *testing.B, ctx context.Context, ref *actor.Ref) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := echo.Call(ctx, ref, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

// benchOp is an operation an actor repeats N times (benchRepeat): "find"
// Name, "register" Name and close it, or "call" echo on the Ref that a
// Find of Name gives (the Find outside the loop).
type benchOp struct {
	Op, Name string
	N        int
}

var (
	echo = actor.Func("test.bench.echo", func(_ context.Context, p []byte) ([]byte, error) { return p, nil })

	// benchRegisterEcho registers the actor under name, exposing echo,
	// until it ends.
	benchRegisterEcho = actor.Func("test.bench.registerEcho", func(ctx context.Context, name string) (uint64, error) {
		reg, err := actor.Register(ctx, name, actor.Expose(echo))
		if err != nil {
			return 0, err
		}
		return reg.Revision(), nil
	})

	benchRepeat = actor.Func("test.bench.repeat", func(ctx context.Context, op benchOp) (int, error) {
		var peer *actor.Ref
		if op.Op == "call" {
			var err error
			if peer, err = actor.Find(ctx, op.Name); err != nil {
				return 0, err
			}
		}
		for i := range op.N {
			var err error
			switch op.Op {
			case "find":
				_, err = actor.Find(ctx, op.Name)
			case "register":
				var reg *actor.Registration
				if reg, err = actor.Register(ctx, op.Name); err == nil {
					err = reg.Close(ctx)
				}
			case "call":
				_, err = echo.Call(ctx, peer, benchPayload)
			default:
				err = fmt.Errorf("benchRepeat: no operation %q", op.Op)
			}
			if err != nil {
				return i, err
			}
		}
		return op.N, nil
	})
)

// registerEcho has ref register under name, exposing echo.
func registerEcho(b *testing.B, ctx context.Context, ref *actor.Ref, name string) {
	_, err := benchRegisterEcho.Call(ctx, ref, name)
	require.NoError(b, err)
}

// benchInActor times ref repeating op b.N times: one call from the root,
// whose own round trip the b.N operations amortise.
func benchInActor(b *testing.B, ctx context.Context, ref *actor.Ref, op benchOp) {
	op.N = b.N
	b.ResetTimer()
	n, err := benchRepeat.Call(ctx, ref, op)
	require.NoError(b, err)
	require.Equal(b, b.N, n)
}

// withActor runs fn with a freshly spawned actor, reaped afterwards.
func withActor(b testing.TB, fn func(ctx context.Context, ref *actor.Ref)) {
	withActors(b, 1, func(ctx context.Context, refs []*actor.Ref) { fn(ctx, refs[0]) })
}

// withActors runs fn with k freshly spawned sibling actors, reaped
// afterwards.
func withActors(b testing.TB, k int, fn func(ctx context.Context, refs []*actor.Ref)) {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		refs := make([]*actor.Ref, k)
		for i := range refs {
			var err error
			if refs[i], err = actor.Spawn(ctx, n, fmt.Sprintf("bench-%d", i)); err != nil {
				return err
			}
		}
		fn(ctx, refs)
		n.Cancel(nil)
		return nil
	})
	require.NoError(b, err)
}
