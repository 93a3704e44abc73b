package pool_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/pool"
)

// sharedAsync calls pool.Shared(opts...) in a goroutine; the caller joins
// it by receiving from the channel.
func sharedAsync(opts ...pool.Option) <-chan *pool.Pool {
	got := make(chan *pool.Pool, 1)
	go func() {
		p, err := pool.Shared(opts...)
		if err != nil {
			p = nil
		}
		got <- p
	}()
	return got
}

// TestSharedReplacesWithoutWaitingForTheOldPool: replacing the shared pool
// lets the old one drain its task in the background; neither the caller
// that replaced it nor the next caller with the same options waits for it.
func TestSharedReplacesWithoutWaitingForTheOldPool(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old, err := pool.Shared(pool.WithWorkers(1))
	require.NoError(t, err)
	slow := pool.Submit(context.Background(), old, sleepy, 60_000) // ends when cancelled
	newOpts := []pool.Option{pool.WithWorkers(1), pool.WithMaxTasks(7)}

	// await returns what Shared gave, failing if it waited for the slow
	// task (which, bounded at 10 s, it then cancels so that Shared returns).
	await := func(got <-chan *pool.Pool) *pool.Pool {
		t.Helper()
		bound := time.NewTimer(10 * time.Second)
		defer bound.Stop()
		select {
		case p := <-got:
			select {
			case <-slow.Done():
				t.Fatal("Shared returned only once the old pool's task had ended")
			default:
			}
			require.NotNil(t, p)
			return p
		case <-bound.C:
			slow.Cancel()
			<-got
			t.Fatal("Shared waited for the old pool to drain its task")
		}
		return nil
	}
	first := await(sharedAsync(newOpts...))
	second := await(sharedAsync(newOpts...))
	require.Same(t, first, second, "the same new options: the same new pool")
	require.NotSame(t, old, first)

	v, err := pool.Submit(ctx, first, square, 5).Result(ctx)
	require.NoError(t, err)
	require.Equal(t, 25, v, "the new pool serves while the old one drains")
	select {
	case <-slow.Done():
		t.Fatal("the old pool's task was cut by the replacement")
	default:
	}

	slow.Cancel()
	_, err = slow.Result(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, old.Shutdown(ctx), "Shutdown on the replaced pool waits for its drain")
	require.NoError(t, first.Close())
}

// TestSharedReplacedHandle: a handle to a pool that Shared replaced does
// not forward to the replacement (whose options differ): it answers
// ErrShutdown with an error that says to call Shared again; its queued and
// running tasks finish under the options they were submitted with.
func TestSharedReplacedHandle(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old, err := pool.Shared(pool.WithWorkers(1), pool.WithEnv("GROVE_TEST_SHARED=old"))
	require.NoError(t, err)
	queued := submitAll(old, sleepy, []int{50, 50, 50})

	repl, err := pool.Shared(pool.WithWorkers(1), pool.WithEnv("GROVE_TEST_SHARED=new"))
	require.NoError(t, err)
	require.NotSame(t, old, repl)
	require.NoError(t, repl.Err())

	outs, errs := results(t, queued)
	for i := range queued {
		require.NoError(t, errs[i], "a task queued before the replacement runs on the old pool")
		require.Equal(t, 50, outs[i])
	}

	for _, err := range []error{
		old.Err(),
		func() error { _, err := pool.Submit(ctx, old, square, 2).Result(ctx); return err }(),
		func() error {
			for _, err := range pool.Map(ctx, old, square, slices.Values([]int{1, 2})) {
				return err
			}
			return nil
		}(),
	} {
		require.ErrorIs(t, err, pool.ErrShutdown)
		require.ErrorContains(t, err, "pool.Shared again", "the error names the fix")
	}
	require.NoError(t, old.Shutdown(ctx))

	v, err := pool.Submit(ctx, repl, square, 4).Result(ctx)
	require.NoError(t, err)
	require.Equal(t, 16, v)
	require.NoError(t, repl.Close())

	// A pool shut down by its holder says only that.
	require.NotContains(t, repl.Err().Error(), "pool.Shared again")
}
