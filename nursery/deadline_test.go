package nursery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/nursery"
)

// blockUntilDone stands for slow ctx-aware work.
func blockUntilDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestMoveOnAfter(t *testing.T) {
	t.Parallel()
	t.Run("own deadline fires", func(t *testing.T) {
		t.Parallel()
		timedOut, err := nursery.MoveOnAfter(context.Background(), 10*time.Millisecond, blockUntilDone)
		require.True(t, timedOut)
		require.NoError(t, err, "the scope's own cancellation is swallowed")
	})
	t.Run("fn finishes first", func(t *testing.T) {
		t.Parallel()
		timedOut, err := nursery.MoveOnAfter(context.Background(), time.Hour, func(ctx context.Context) error {
			return nil
		})
		require.False(t, timedOut)
		require.NoError(t, err)
	})
	t.Run("genuine error passes", func(t *testing.T) {
		t.Parallel()
		timedOut, err := nursery.MoveOnAfter(context.Background(), time.Hour, func(ctx context.Context) error {
			return errA
		})
		require.False(t, timedOut)
		require.Equal(t, errA, err)
	})
	t.Run("genuine error after the deadline passes", func(t *testing.T) {
		t.Parallel()
		timedOut, err := nursery.MoveOnAfter(context.Background(), 0, func(ctx context.Context) error {
			<-ctx.Done()
			return errA
		})
		require.True(t, timedOut)
		require.Equal(t, errA, err)
	})
	t.Run("outer cancel", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		timedOut, err := nursery.MoveOnAfter(ctx, time.Hour, func(ctx context.Context) error {
			cancel()
			return blockUntilDone(ctx)
		})
		require.False(t, timedOut, "an outer cancellation is not this scope's deadline")
		require.ErrorIs(t, err, context.Canceled, "the outer error comes back")
	})
	t.Run("earlier outer deadline", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		timedOut, err := nursery.MoveOnAfter(ctx, time.Hour, blockUntilDone)
		require.False(t, timedOut)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("nested scopes: only the inner one fired", func(t *testing.T) {
		t.Parallel()
		outerTimedOut, err := nursery.MoveOnAfter(context.Background(), time.Hour, func(ctx context.Context) error {
			innerTimedOut, err := nursery.MoveOnAfter(ctx, time.Millisecond, blockUntilDone)
			require.True(t, innerTimedOut)
			return err
		})
		require.False(t, outerTimedOut)
		require.NoError(t, err)
	})
}

func TestFailAfter(t *testing.T) {
	t.Parallel()
	t.Run("deadline fires while blocked", func(t *testing.T) {
		t.Parallel()
		err := nursery.FailAfter(context.Background(), 10*time.Millisecond, blockUntilDone)
		require.ErrorIs(t, err, nursery.ErrTooSlow)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("deadline in the past cancels at once", func(t *testing.T) {
		t.Parallel()
		var errOnEntry error
		err := nursery.FailAfter(context.Background(), -time.Second, func(ctx context.Context) error {
			errOnEntry = ctx.Err()
			return nil
		})
		require.ErrorIs(t, errOnEntry, context.DeadlineExceeded, "fn starts already cancelled")
		require.ErrorIs(t, err, nursery.ErrTooSlow)
	})
	t.Run("in time", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, nursery.FailAfter(context.Background(), time.Hour, func(ctx context.Context) error {
			return nil
		}))
	})
	t.Run("outer cancel is not too slow", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := nursery.FailAt(ctx, time.Now().Add(time.Hour), blockUntilDone)
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, nursery.ErrTooSlow)
	})
	t.Run("inside a nursery, too slow is a genuine failure", func(t *testing.T) {
		t.Parallel()
		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				return nursery.FailAfter(ctx, time.Millisecond, blockUntilDone)
			})
			return blockUntilDone(ctx)
		})
		require.ErrorIs(t, err, nursery.ErrTooSlow)
	})
}

type ctxKey struct{}

func TestShieldKeepsCleanupRunning(t *testing.T) {
	t.Parallel()
	const grace = 50 * time.Millisecond
	type report struct {
		errAtStart error
		value      any
		errAtEnd   error
		cause      error
		waited     time.Duration
	}
	reports := make(chan report, 1)
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-7")
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			start := time.Now()
			cctx, cancel := nursery.Shield(ctx, grace)
			defer cancel()
			r := report{errAtStart: cctx.Err(), value: cctx.Value(ctxKey{})}
			<-cctx.Done() // cleanup that would run forever, stopped by its own timeout
			r.waited, r.errAtEnd, r.cause = time.Since(start), cctx.Err(), context.Cause(ctx)
			reports <- r
			return nil
		})
		n.Cancel(errors.New("shutting down"))
		return nil
	})
	require.NoError(t, err)
	r := <-reports
	require.NoError(t, r.errAtStart, "the shielded context ignores the nursery's cancellation")
	require.Equal(t, "request-7", r.value, "values are kept")
	require.ErrorIs(t, r.errAtEnd, context.DeadlineExceeded, "and stops at its own timeout")
	require.GreaterOrEqual(t, r.waited, grace)
	require.EqualError(t, r.cause, "shutting down")
}
