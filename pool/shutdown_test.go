package pool_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/pool"
)

// holdOne starts a one-worker pool, which the test ends, running a hold
// task; it returns once the task has begun in the worker.
func holdOne(t *testing.T) (*pool.Pool, *pool.Future[int]) {
	t.Helper()
	proctest.NoChildrenLeft(t)
	p, err := pool.New(context.Background(), pool.WithWorkers(1))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "task")
	f := pool.Submit(context.Background(), p, hold, path)
	waitFile(t, path+".started")
	return p, f
}

// A Shutdown whose ctx ends before the drain returns ctx's error and kills
// nothing: the running task goes on in a worker that is still the pool's,
// and a Close then kills and reaps it.
func TestShutdownBoundedByCtxThenClose(t *testing.T) {
	p, f := holdOne(t)
	pids := p.PIDs()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.DeadlineExceeded)
	select {
	case <-f.Done():
		t.Fatal("a Shutdown that timed out cut the running task")
	default:
	}
	require.Equal(t, pids, p.PIDs(), "the worker is alive, and still the pool's")
	require.ErrorIs(t, p.Err(), pool.ErrShutdown)
	_, err := pool.Submit(context.Background(), p, square, 1).Result(context.Background())
	require.ErrorIs(t, err, pool.ErrShutdown, "no new task after Shutdown")

	require.NoError(t, p.Close())
	_, err = f.Result(context.Background())
	require.ErrorIs(t, err, pool.ErrShutdown, "Close fails the running task")
	if proctest.ProcessBackend() {
		require.Empty(t, proctest.Gone(pids, time.Second), "Close reaped the worker")
	}
	require.NoError(t, p.Shutdown(context.Background()), "a Shutdown after Close returns at once")
}

// Shutdown and Close, each twice, all at once: every call returns nil once
// the pool has ended; Close wins for the running and queued tasks.
func TestShutdownAndCloseConcurrently(t *testing.T) {
	p, running := holdOne(t)
	queued := pool.Submit(context.Background(), p, square, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = p.Shutdown(ctx)
			} else {
				errs[i] = p.Close()
			}
		})
	}
	wg.Wait()
	require.Equal(t, make([]error, 4), errs)
	_, err := running.Result(ctx)
	require.ErrorIs(t, err, pool.ErrShutdown)
	_, err = queued.Result(ctx)
	require.ErrorIs(t, err, pool.ErrShutdown)
	require.NoError(t, p.Close(), "again, after the end")
	require.NoError(t, p.Shutdown(ctx), "again, after the end")
}

// A Shutdown waiting on a drain returns when a Close cuts it short.
func TestCloseEndsAWaitingShutdown(t *testing.T) {
	p, f := holdOne(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(ctx) }()
	require.Eventually(t, func() bool { return p.Err() != nil }, 10*time.Second, time.Millisecond,
		"Shutdown has begun")
	require.NoError(t, p.Close())
	require.NoError(t, <-shut, "the pool ended: the futures say how")
	_, err := f.Result(ctx)
	require.ErrorIs(t, err, pool.ErrShutdown)
}

// A Close (or Shutdown) during a Map over an endless input ends the Map:
// dispatch stops, the batches in flight end with the pool, and the pool's
// error comes last, rather than an ErrShutdown for every input forever to
// a consumer that goes on past errors.
func TestCloseEndsAMapOfAnEndlessInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*pool.Pool) error
	}{
		{"Close", (*pool.Pool).Close},
		{"Shutdown", func(p *pool.Pool) error { return p.Shutdown(context.Background()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, pool.WithWorkers(2))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			endless := func(yield func(int) bool) {
				for i := 0; yield(i); i++ {
				}
			}
			const bound = 200_000 // far more than two workers' window
			n, ended, afterEnd := 0, false, 0
			var last error
			for _, err := range pool.Map(ctx, p, square, endless) {
				if n++; n == 100 {
					require.NoError(t, tc.end(p))
					ended = true
				}
				if ended {
					afterEnd++
				}
				last = err
				if n > bound {
					break
				}
			}
			require.LessOrEqual(t, n, bound, "the Map ended by itself")
			require.ErrorIs(t, last, pool.ErrShutdown, "the pool's error last")
			t.Logf("%d results, %d after the end", n, afterEnd)
		})
	}
}

// A Close while a worker is still starting (its spawn under way, its
// initializer about to run) kills that worker too once it is up: Close is
// bounded by the kill, not by the initializer, which here would take a
// minute.
func TestCloseKillsAWorkerStillStarting(t *testing.T) {
	proctest.NoChildrenLeft(t)
	for range 3 {
		p, err := pool.New(context.Background(), pool.WithWorkers(1), pool.WithInitializer(sleepy, 60_000))
		require.NoError(t, err)
		f := pool.Submit(context.Background(), p, square, 3) // the pool spawns its worker
		start := time.Now()
		require.NoError(t, p.Close())
		require.Less(t, time.Since(start), 20*time.Second, "Close waited for the initializer")
		_, err = f.Result(context.Background())
		require.ErrorIs(t, err, pool.ErrShutdown)
	}
}
