package actor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// occupy holds a stream open until its call is canceled.
var occupy = actor.Func("test.occupy", func(ctx context.Context, _ struct{}) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
})

// A call refused at the actor's stream limit matches
// transport.ErrTooManyStreams with errors.Is in the caller: the refusal
// crosses the wire as a registered sentinel.
func TestCallPastTheStreamLimitMatchesErrTooManyStreams(t *testing.T) {
	t.Parallel()
	proctest.NoChildrenLeft(t)
	const (
		limit = transport.DefaultMaxStreams
		extra = 4
	)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "crowded")
		if err != nil {
			return err
		}
		calls, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make(chan error, limit+extra)
		var wg sync.WaitGroup
		for range limit + extra {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := occupy.Call(calls, ref, struct{}{})
				errs <- err
			}()
		}
		// limit calls occupy every stream until they are canceled: exactly
		// extra calls are refused, whichever they are.
		timeout := time.After(30 * time.Second)
		for range extra {
			select {
			case err := <-errs:
				require.ErrorIs(t, err, transport.ErrTooManyStreams)
				var re *actor.RemoteError
				require.ErrorAs(t, err, &re)
				require.Equal(t, ref.ID(), re.Source.ID)
			case <-timeout:
				t.Fatal("no call was refused at the stream limit")
			}
		}
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			require.ErrorIs(t, err, context.Canceled)
		}
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}
