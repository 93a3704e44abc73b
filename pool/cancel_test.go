package pool_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/pool"
)

// waitFile waits until path exists (a hold task writes one as it begins,
// and one once its ctx is cancelled).
func waitFile(t *testing.T, path string) {
	t.Helper()
	require.Eventually(t, func() bool { _, err := os.Stat(path); return err == nil },
		10*time.Second, time.Millisecond, "%s is written", filepath.Base(path))
}

// A queued task cancelled behind a running one answers at once, without
// waiting for a worker to come free.
func TestCancelQueuedAnswersAtOnce(t *testing.T) {
	p := newPool(t, pool.WithWorkers(1))
	running := pool.Submit(context.Background(), p, sleepy, 60_000)
	queued := pool.Submit(context.Background(), p, sleepy, 1)
	queued.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := queued.Result(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "answered at once, not when the worker came free")
	running.Cancel()
}

// Submit's ctx ending while its task is queued answers the future at once
// with ctx's cause, and the task is dropped: never sent to a worker.
func TestSubmitCtxDropsAQueuedTask(t *testing.T) {
	dir := t.TempDir()
	p := newPool(t, pool.WithWorkers(1))
	running := pool.Submit(context.Background(), p, hold, filepath.Join(dir, "running"))
	waitFile(t, filepath.Join(dir, "running.started"))
	why := errors.New("the caller gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	queued := pool.Submit(ctx, p, hold, filepath.Join(dir, "queued"))
	cancel(why)
	wait, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_, err := queued.Result(wait)
	require.ErrorIs(t, err, why, "at once, with ctx's cause")
	select {
	case <-queued.Done():
	default:
		t.Fatal("Done is closed with the answer")
	}
	running.Cancel()
	v, err := pool.Submit(context.Background(), p, square, 3).Result(wait)
	require.NoError(t, err, "the worker took the next task")
	require.Equal(t, 9, v)
	require.NoFileExists(t, filepath.Join(dir, "queued.started"), "the dropped task never reached the worker")
}

// Submit's ctx ending while its task runs cancels the task's ctx in the
// worker (as actor.Function.Call does), the future answers with ctx's
// error, and the worker serves on.
func TestSubmitCtxCancelsARunningTask(t *testing.T) {
	dir := t.TempDir()
	p := newPool(t, pool.WithWorkers(1))
	ctx, cancel := context.WithCancel(context.Background())
	f := pool.Submit(ctx, p, hold, filepath.Join(dir, "task"))
	waitFile(t, filepath.Join(dir, "task.started"))
	pids := p.PIDs()
	cancel()
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	_, err := f.Result(wait)
	require.ErrorIs(t, err, context.Canceled)
	waitFile(t, filepath.Join(dir, "task.cancelled"))
	v, err := pool.Submit(wait, p, square, 4).Result(wait)
	require.NoError(t, err)
	require.Equal(t, 16, v)
	require.Equal(t, pids, p.PIDs(), "the same worker serves on")
}

// A ctx already ended answers at once; a finished task's future keeps its
// result when its ctx ends later.
func TestSubmitCtxEndedOrLate(t *testing.T) {
	p := newPool(t, pool.WithWorkers(1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := pool.Submit(ctx, p, square, 2).Result(context.Background())
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithCancel(context.Background())
	f := pool.Submit(ctx, p, square, 5)
	v, err := f.Result(context.Background())
	require.NoError(t, err)
	cancel()
	v2, err2 := f.Result(context.Background())
	require.NoError(t, err2, "the answer stands")
	require.Equal(t, []int{25, 25}, []int{v, v2})
}

// Submit's ctx, Cancel, the tasks' answers and a Close, all at once: every
// future answers once, with its result or an error, and nothing is left
// behind (the package's leak check; the race detector for the rest).
func TestSubmitCancelAndCloseRace(t *testing.T) {
	p := newPool(t, pool.WithWorkers(2))
	const n = 300
	fs := make([]*pool.Future[int], n)
	cancels := make([]context.CancelFunc, n)
	for i := range fs {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		fs[i] = pool.Submit(ctx, p, sleepy, i%3)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < n; i += 3 {
			cancels[i]()
		}
	})
	wg.Go(func() {
		for i := 1; i < n; i += 3 {
			fs[i].Cancel()
		}
	})
	var closeErr error
	wg.Go(func() {
		<-fs[n/2].Done()
		closeErr = p.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, f := range fs {
		v, err := f.Result(ctx)
		require.NotErrorIs(t, err, context.DeadlineExceeded, "future %d answered", i)
		if err == nil {
			require.Equal(t, i%3, v)
		}
		v2, err2 := f.Result(ctx)
		require.Equal(t, v, v2, "answered once")
		require.Equal(t, err, err2)
	}
	wg.Wait()
	require.NoError(t, closeErr)
	for _, c := range cancels {
		c()
	}
}
