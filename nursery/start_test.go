package nursery_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/nursery"
)

func TestStartReturnsStartedValue(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var finished atomic.Bool
	var got int
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		v, err := nursery.Start(n, func(ctx context.Context, started func(int)) error {
			started(42)
			<-release // the rest of the child runs after Start returned
			finished.Store(true)
			return nil
		})
		if err != nil {
			return err
		}
		got = v
		close(release)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 42, got)
	require.True(t, finished.Load(), "Run waited for the rest of the started child")
}

func TestStartErrorBeforeStarted(t *testing.T) {
	t.Parallel()
	var startErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, startErr = nursery.Start(n, func(ctx context.Context, started func(string)) error {
			return errA
		})
		require.NoError(t, ctx.Err(), "an error before started does not cancel the nursery")
		return nil
	})
	require.NoError(t, err, "the error went to Start's caller, not to the nursery")
	require.Equal(t, errA, startErr)
}

func TestStartPanicBeforeStarted(t *testing.T) {
	t.Parallel()
	var startErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, startErr = nursery.Start(n, func(ctx context.Context, started func(string)) error {
			panic("not ready")
		})
		return nil
	})
	require.NoError(t, err)
	var pe *nursery.PanicError
	require.ErrorAs(t, startErr, &pe)
	require.Equal(t, "not ready", pe.Value)
}

func TestStartWithoutStarted(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := nursery.Start(n, func(ctx context.Context, started func(int)) error { return nil })
		return err
	})
	require.ErrorIs(t, err, nursery.ErrNotStarted)
}

func TestStartErrorAfterStartedGoesToNursery(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := nursery.Start(n, func(ctx context.Context, started func(int)) error {
			started(1)
			return errA
		})
		require.NoError(t, err)
		<-ctx.Done() // the child's later failure cancels the nursery
		return ctx.Err()
	})
	require.Equal(t, errA, err)
}

func TestStartedTwicePanics(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := nursery.Start(n, func(ctx context.Context, started func(int)) error {
			started(1)
			started(2)
			return nil
		})
		return err
	})
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "nursery: started called twice", pe.Value)
}

func TestStartedAfterReturnPanics(t *testing.T) {
	t.Parallel()
	var keep func(int)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := nursery.Start(n, func(ctx context.Context, started func(int)) error {
			keep = started
			return nil
		})
		return err
	})
	require.ErrorIs(t, err, nursery.ErrNotStarted)
	require.PanicsWithValue(t, "nursery: started called after the child returned", func() { keep(1) })
}

func TestPendingStartKeepsNurseryOpen(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	startResult := make(chan int, 1)
	runDone := make(chan error, 1)
	go func() {
		runDone <- nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			// Start is called from outside the nursery's tasks, so nothing
			// but the pending Start keeps the nursery open once body returns.
			go func() {
				v, _ := nursery.Start(n, func(ctx context.Context, started func(int)) error {
					close(entered)
					<-release
					started(7)
					return nil
				})
				startResult <- v
			}()
			<-entered
			return nil
		})
	}()
	<-entered
	select {
	case err := <-runDone:
		t.Fatalf("Run returned (%v) while a Start was pending", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-runDone)
	require.Equal(t, 7, <-startResult)
}

func TestStartInCancelledNursery(t *testing.T) {
	t.Parallel()
	errStop := errors.New("stopping")
	var ran atomic.Bool
	var startErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Cancel(errStop)
		_, startErr = nursery.Start(n, func(ctx context.Context, started func(int)) error {
			ran.Store(true)
			select {} // would hang: Start must not run fn at all
		})
		return nil
	})
	require.NoError(t, err)
	require.False(t, ran.Load())
	require.ErrorIs(t, startErr, context.Canceled)
	require.ErrorIs(t, startErr, errStop, "the error carries the nursery's cancel cause")
}

func TestStartCancelledWhilePending(t *testing.T) {
	t.Parallel()
	var startErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errA })
		_, startErr = nursery.Start(n, func(ctx context.Context, started func(int)) error {
			<-ctx.Done() // a sibling fails before this child is ready
			return ctx.Err()
		})
		return nil
	})
	require.Equal(t, errA, err)
	require.ErrorIs(t, startErr, context.Canceled)
}
