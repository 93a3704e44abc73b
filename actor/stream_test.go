package actor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
)

// inActor runs body with a fresh actor, then stops it, and checks that no
// process is left.
func inActor(t *testing.T, body func(ctx context.Context, ref *actor.Ref)) {
	t.Helper()
	proctest.NoChildrenLeft(t)
	withActor(t, body)
}

func TestStreamCloseWaitsForTheRemoteEnd(t *testing.T) {
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		before, err := slowStops.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		key := ref.ID()
		s, err := slowStop.Open(ctx, ref, key)
		require.NoError(t, err)
		require.Equal(t, 1, <-s.C)
		closed := make(chan struct{})
		go func() { s.Close(); close(closed) }()
		waitStarted(ctx, t, ref, key, 1) // the remote clean-up is under way
		select {
		case <-closed:
			t.Fatal("Close returned while the remote function was still cleaning up")
		default:
		}
		_, err = endCleanup.Call(ctx, ref, key)
		require.NoError(t, err)
		<-closed
		after, err := slowStops.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		require.Equal(t, before+1, after, "Close returned only once the remote function had ended")
		require.ErrorIs(t, s.Err(), actor.ErrStreamClosed)
	})
}

func TestStreamErrAfterClose(t *testing.T) {
	cases := []struct {
		name  string
		open  func(ctx context.Context, ref *actor.Ref) (*actor.Stream[int], error)
		check func(t *testing.T, err error)
	}{{
		// failAfter ignores its ctx: its own error is its outcome, whenever
		// the cancel reaches it.
		name: "the remote had failed",
		open: func(ctx context.Context, ref *actor.Ref) (*actor.Stream[int], error) {
			return failAfter.Open(ctx, ref, 100)
		},
		check: func(t *testing.T, err error) {
			require.ErrorIs(t, err, errQuota)
			require.NotErrorIs(t, err, actor.ErrStreamClosed)
		},
	}, {
		name: "the remote was still running",
		open: func(ctx context.Context, ref *actor.Ref) (*actor.Stream[int], error) {
			return count.Open(ctx, ref, 1_000_000_000)
		},
		check: func(t *testing.T, err error) {
			require.ErrorIs(t, err, actor.ErrStreamClosed)
			require.NotErrorIs(t, err, context.Canceled, "the caller's Close, told from a cancelled ctx")
		},
	}}
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s, err := c.open(ctx, ref)
				require.NoError(t, err)
				// The caller reads nothing: the stream's channel fills up and
				// the rest (the end too, when there is one) waits behind it.
				require.Eventually(t, func() bool { return len(s.C) == cap(s.C) }, 10*time.Second, time.Millisecond)
				s.Close()
				c.check(t, s.Err())
			})
		}
	})
}

// echoUntilCancelled echoes until its caller closes its side (nil) or
// cancels (ctx's error, whichever of in's end or ctx it sees first).
var echoUntilCancelled = actor.DuplexFunc("test.echoUntilCancelled", func(ctx context.Context, in <-chan string, out chan<- string) error {
	for {
		select {
		case s, ok := <-in:
			if !ok {
				return ctx.Err()
			}
			select {
			case out <- strings.ToUpper(s):
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
})

func TestDuplexSendAfterTheEnd(t *testing.T) {
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		d, err := echoUntilCancelled.Open(ctx, ref)
		require.NoError(t, err)
		d.In <- "a"
		require.Equal(t, "A", <-d.Out)
		d.Close()
		require.ErrorIs(t, d.Err(), actor.ErrStreamClosed)
		for i := range 100 { // dropped, at once
			select {
			case d.In <- "late":
			case <-time.After(5 * time.Second):
				t.Fatalf("send %d into In after the call ended blocked", i)
			}
		}
		close(d.In)
	})
}

func TestStreamFuncClosesOut(t *testing.T) {
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		s, err := closesOut.Open(ctx, ref, 5)
		require.NoError(t, err)
		var got []int
		for v := range s.C {
			got = append(got, v)
		}
		require.Equal(t, []int{0, 1, 2, 3, 4}, got, "every item sent before the close")
		require.ErrorContains(t, s.Err(), "must not close")
		n, err := square.Call(ctx, ref, 3)
		require.NoError(t, err, "the actor lives on")
		require.Equal(t, 9, n)
	})
}

// TestStreamCancelledWithACauseReturnsCtxError: a stream whose ctx is
// cancelled with a cause ends with ctx's error, as a call does, not with
// the cause.
func TestStreamCancelledWithACauseReturnsCtxError(t *testing.T) {
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		myErr := errors.New("my cause")
		sctx, cancel := context.WithCancelCause(ctx)
		s, err := hold.Open(sctx, ref, struct{}{})
		require.NoError(t, err)
		cancel(myErr)
		for range s.C {
		}
		require.ErrorIs(t, s.Err(), context.Canceled)
		require.NotErrorIs(t, s.Err(), myErr)
	})
}

// pairs streams n items, each a fresh slice [i, i+1], and a map, so that
// a receiver decoding every item into one reused value would alias them.
var pairs = actor.StreamFunc("test.pairs", func(ctx context.Context, n int, out chan<- map[string][]int) error {
	for i := range n {
		select {
		case out <- map[string][]int{"p": {i, i + 1}}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
})

// TestStreamItemsInBatchesStayApart streams many more items than a Batch
// and the channel hold: every item must arrive, in order, as a value of
// its own (the receiver decodes into one reused variable); then a stream
// closed mid-way, while items are in flight in batches, ends with
// ErrStreamClosed and leaves the actor serving.
func TestStreamItemsInBatchesStayApart(t *testing.T) {
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		const n = 20_000
		s, err := pairs.Open(ctx, ref, n)
		require.NoError(t, err)
		var got []map[string][]int
		for v := range s.C {
			got = append(got, v)
		}
		require.NoError(t, s.Err())
		require.Len(t, got, n)
		for i, v := range got {
			require.Equal(t, map[string][]int{"p": {i, i + 1}}, v, "item %d", i)
		}

		endless, err := count.Open(ctx, ref, 1<<30)
		require.NoError(t, err)
		for i := range 5000 {
			require.Equal(t, i, <-endless.C)
		}
		endless.Close()
		require.ErrorIs(t, endless.Err(), actor.ErrStreamClosed)
		again, err := pairs.Open(ctx, ref, 3)
		require.NoError(t, err)
		items := 0
		for range again.C {
			items++
		}
		require.NoError(t, again.Err())
		require.Equal(t, 3, items)
	})
}
