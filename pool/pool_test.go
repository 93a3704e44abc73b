package pool_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/pool"
)

// Tests spawn worker processes, so they do not run in parallel: each checks
// that it left no process behind.

func newPool(t *testing.T, opts ...pool.Option) *pool.Pool {
	t.Helper()
	proctest.NoChildrenLeft(t)
	p, err := pool.New(context.Background(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

// results waits for every future.
func results[Out any](t *testing.T, fs []*pool.Future[Out]) ([]Out, []error) {
	t.Helper()
	outs := make([]Out, len(fs))
	errs := make([]error, len(fs))
	for i, f := range fs {
		outs[i], errs[i] = f.Result(context.Background())
	}
	return outs, errs
}

func submitAll[In, Out any](p *pool.Pool, fn *actor.Function[In, Out], ins []In) []*pool.Future[Out] {
	fs := make([]*pool.Future[Out], len(ins))
	for i, in := range ins {
		fs[i] = pool.Submit(context.Background(), p, fn, in)
	}
	return fs
}

func squares(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i * i
	}
	return out
}

func TestErrorsThenSuccesses(t *testing.T) {
	p := newPool(t, pool.WithWorkers(2))
	_, errs := results(t, submitAll(p, fail, slices.Collect(rangeN(100))))
	for _, err := range errs {
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "*fmt.wrapError", re.Type)
		require.ErrorIs(t, err, errTask)
	}
	outs, errs := results(t, submitAll(p, square, slices.Collect(rangeN(100))))
	require.Equal(t, squares(100), outs)
	require.Equal(t, make([]error, 100), errs)
}

func TestPanicKeepsThePoolUsable(t *testing.T) {
	p := newPool(t, pool.WithWorkers(2))
	_, err := pool.Submit(context.Background(), p, panicky, 7).Result(context.Background())
	var re *actor.RemoteError
	require.ErrorAs(t, err, &re)
	require.True(t, re.Panicked())
	require.Contains(t, re.Message, "panic on 7")
	v, err := pool.Submit(context.Background(), p, square, 8).Result(context.Background())
	require.NoError(t, err)
	require.Equal(t, 64, v)
}

func TestEncodeAndDecodeErrors(t *testing.T) {
	p := newPool(t, pool.WithWorkers(1))
	_, err := pool.Submit(context.Background(), p, unencodable, make(chan int)).Result(context.Background())
	require.ErrorContains(t, err, "encode")
	if proctest.ProcessBackend() { // the worker must be another program for that
		_, err = pool.Submit(context.Background(), p, badResultAsInt, 1).Result(context.Background())
		require.ErrorContains(t, err, "decode", "a result that does not decode fails its future")
		for _, err := range pool.Map(context.Background(), p, badResultAsInt, rangeN(3)) {
			require.ErrorContains(t, err, "decode the result", "and fails alone in a batch")
		}
	}
	for _, err := range pool.Map(context.Background(), p, unencodable, func(yield func(chan int) bool) {
		_ = yield(make(chan int)) && yield(nil)
	}) {
		require.ErrorContains(t, err, "encode the argument", "each input fails alone")
	}
	v, err := pool.Submit(context.Background(), p, square, 3).Result(context.Background())
	require.NoError(t, err, "the pool carries on")
	require.Equal(t, 9, v)
}

func TestWorkerExitFailsOnlyItsTask(t *testing.T) {
	proctest.NeedsProcesses(t, "a worker process that can exit")
	p := newPool(t, pool.WithWorkers(2))
	outs, errs := results(t, submitAll(p, exitOn, slices.Collect(rangeN(100))))
	var ee *actor.ExitError
	require.ErrorAs(t, errs[0], &ee)
	require.Equal(t, 42, ee.Code)
	for i := 1; i < 100; i++ {
		require.NoError(t, errs[i], "task %d", i)
		require.Equal(t, i*i, outs[i])
	}
	require.NoError(t, p.Err())
	require.Equal(t, 2, p.Workers(), "the pool keeps its worker count")
}

func TestWorkerKilledBySignal(t *testing.T) {
	proctest.NeedsProcesses(t, "signals")
	for _, sig := range deathSignals {
		t.Run(sig.String(), func(t *testing.T) {
			p := newPool(t, pool.WithWorkers(2))
			ins := make([][2]int, 20)
			for i := range ins {
				ins[i] = [2]int{i, int(sig)}
			}
			outs, errs := results(t, submitAll(p, signalOn, ins))
			var ee *actor.ExitError
			require.ErrorAs(t, errs[0], &ee)
			require.Equal(t, sig, ee.Signal)
			for i := 1; i < len(ins); i++ {
				require.NoError(t, errs[i])
				require.Equal(t, i, outs[i])
			}
		})
	}
}

func TestCrashLoopBreaksThePool(t *testing.T) {
	proctest.NeedsProcesses(t, "worker processes that exit")
	proctest.NoChildrenLeft(t)
	p, err := pool.Shared(pool.WithWorkers(2), pool.WithCrashLimit(3, time.Minute))
	require.NoError(t, err)
	_, errs := results(t, submitAll(p, alwaysExit, slices.Collect(rangeN(20))))
	broken := 0
	for _, err := range errs {
		if errors.Is(err, pool.ErrBroken) {
			broken++
			var ee *actor.ExitError
			require.ErrorAs(t, err, &ee, "the break wraps the last death")
		}
	}
	require.Positive(t, broken)
	require.ErrorIs(t, p.Err(), pool.ErrBroken)
	_, err = pool.Submit(context.Background(), p, square, 2).Result(context.Background())
	require.ErrorIs(t, err, pool.ErrBroken)

	fresh, err := pool.Shared(pool.WithWorkers(2), pool.WithCrashLimit(3, time.Minute))
	require.NoError(t, err)
	require.NotSame(t, p, fresh)
	v, err := pool.Submit(context.Background(), fresh, square, 5).Result(context.Background())
	require.NoError(t, err)
	require.Equal(t, 25, v)
	require.NoError(t, fresh.Close())
	require.NoError(t, p.Close())
}

func TestWorkersKilledBySiblings(t *testing.T) {
	proctest.NeedsProcesses(t, "worker processes to kill")
	for _, killers := range []int{1, 2, 5} {
		t.Run(fmt.Sprint(killers), func(t *testing.T) {
			p := newPool(t, pool.WithWorkers(killers+1), pool.WithCrashLimit(100, time.Minute))
			// Learn the workers' pids, then have tasks kill some of them.
			// Queued tasks make the pool spawn workers up to its size.
			require.Eventually(t, func() bool {
				_, _ = results(t, submitAll(p, square, slices.Collect(rangeN(killers+1))))
				return len(p.PIDs()) >= killers+1
			}, 10*time.Second, time.Millisecond)
			targets := p.PIDs()
			fs := submitAll(p, killPID, targets[:killers])
			fs2 := submitAll(p, square, slices.Collect(rangeN(50)))
			_, _ = results(t, fs) // a killer may die by its own hand: no hang
			outs, errs := results(t, fs2)
			for i := range outs {
				var ee *actor.ExitError
				if errors.As(errs[i], &ee) {
					continue // this task was on a killed worker
				}
				require.NoError(t, errs[i])
				require.Equal(t, i*i, outs[i])
			}
			require.NoError(t, p.Err())
		})
	}
}

func TestInitializer(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		p := newPool(t, pool.WithWorkers(2), pool.WithInitializer(initOK, 0))
		v, err := pool.Submit(context.Background(), p, square, 4).Result(context.Background())
		require.NoError(t, err)
		require.Equal(t, 16, v)
	})
	t.Run("fails", func(t *testing.T) {
		p := newPool(t, pool.WithWorkers(2), pool.WithInitializer(initFail, 0))
		_, err := pool.Submit(context.Background(), p, square, 4).Result(context.Background())
		var ie *pool.InitError
		require.ErrorAs(t, err, &ie)
		require.ErrorContains(t, err, "no database")
		require.ErrorIs(t, err, pool.ErrBroken)
		_, err = pool.Submit(context.Background(), p, square, 5).Result(context.Background())
		require.ErrorAs(t, err, &ie, "later submits fail the same way")
	})
}

func TestIdleTimeout(t *testing.T) {
	p := newPool(t, pool.WithWorkers(2), pool.WithIdleTimeout(50*time.Millisecond))
	for v, err := range pool.Map(context.Background(), p, square, rangeN(20)) {
		require.NoError(t, err)
		_ = v
	}
	require.Eventually(t, func() bool { return len(p.PIDs()) == 0 }, 5*time.Second, 10*time.Millisecond,
		"idle workers exit")
	got := 0
	for _, err := range pool.Map(context.Background(), p, square, rangeN(20)) {
		require.NoError(t, err)
		got++
	}
	require.Equal(t, 20, got, "the next map respawns them")
}

func TestMaxTasksReplacesWorkers(t *testing.T) {
	proctest.NeedsProcesses(t, "a pid per worker")
	p := newPool(t, pool.WithWorkers(2), pool.WithMaxTasks(10))
	outs, errs := results(t, submitAll(p, pid, slices.Collect(rangeN(100))))
	distinct := map[int]bool{}
	for i := range outs {
		require.NoError(t, errs[i])
		distinct[outs[i]] = true
	}
	require.GreaterOrEqual(t, len(distinct), 10, "each worker ran at most 10 tasks")
}

func TestMemoryCeiling(t *testing.T) {
	proctest.NeedsProcesses(t, "a resident set per worker")
	p := newPool(t, pool.WithWorkers(1), pool.WithMaxMemory(120<<20))
	outs, errs := results(t, submitAll(p, leak, slices.Collect(rangeN(6))))
	distinct := map[int]bool{}
	for i := range outs {
		require.NoError(t, errs[i], "every result arrives")
		distinct[outs[i]] = true
	}
	require.Greater(t, len(distinct), 1, "the leaking worker was replaced")
}

func TestClose(t *testing.T) {
	proctest.NoChildrenLeft(t)
	p, err := pool.New(context.Background(), pool.WithWorkers(2))
	require.NoError(t, err)
	fs := submitAll(p, sleepy, slices.Repeat([]int{60_000}, 100))
	require.Eventually(t, func() bool { return len(p.PIDs()) == 2 }, 10*time.Second, 5*time.Millisecond)
	pids := p.PIDs()
	start := time.Now()
	require.NoError(t, p.Close())
	require.Less(t, time.Since(start), 5*time.Second)
	_, errs := results(t, fs)
	for _, err := range errs {
		require.ErrorIs(t, err, pool.ErrShutdown)
	}
	if proctest.ProcessBackend() {
		require.Empty(t, proctest.Gone(pids, time.Second))
	}
	_, err = pool.Submit(context.Background(), p, square, 1).Result(context.Background())
	require.ErrorIs(t, err, pool.ErrShutdown)
}

func TestShutdownWaits(t *testing.T) {
	proctest.NoChildrenLeft(t)
	p, err := pool.New(context.Background(), pool.WithWorkers(2))
	require.NoError(t, err)
	fs := submitAll(p, sleepy, slices.Repeat([]int{50}, 6))
	require.NoError(t, p.Shutdown(context.Background()))
	outs, errs := results(t, fs)
	for i := range outs {
		require.NoError(t, errs[i])
		require.Equal(t, 50, outs[i])
	}
	_, err = pool.Submit(context.Background(), p, square, 1).Result(context.Background())
	require.ErrorIs(t, err, pool.ErrShutdown)
}

func TestSharedFromManyGoroutines(t *testing.T) {
	proctest.NoChildrenLeft(t)
	first, err := pool.Shared(pool.WithWorkers(3))
	require.NoError(t, err)
	defer func() { require.NoError(t, first.Close()) }()
	var wg sync.WaitGroup
	pools := make([]*pool.Pool, 10)
	errs := make([]error, 10)
	for i := range pools {
		wg.Go(func() {
			p, err := pool.Shared(pool.WithWorkers(2 + i%2))
			if err == nil {
				_, err = pool.Submit(context.Background(), p, square, i).Result(context.Background())
			}
			pools[i], errs[i] = p, err
		})
	}
	wg.Wait()
	for i, p := range pools {
		require.NoError(t, errs[i])
		require.Same(t, first, p, "equal options but the size: the same pool, resized")
	}

	// Resize in place: three busy workers, then two; the two left are
	// among the three.
	p, err := pool.Shared(pool.WithWorkers(3))
	require.NoError(t, err)
	require.Same(t, first, p)
	require.Eventually(t, func() bool {
		_, _ = results(t, submitAll(p, square, slices.Collect(rangeN(3))))
		return len(p.PIDs()) == 3
	}, 10*time.Second, time.Millisecond)
	before := p.PIDs()
	p, err = pool.Shared(pool.WithWorkers(2))
	require.NoError(t, err)
	require.Same(t, first, p)
	require.Eventually(t, func() bool { return len(p.PIDs()) == 2 }, 5*time.Second, 5*time.Millisecond)
	for _, pid := range p.PIDs() {
		require.Contains(t, before, pid, "surviving workers keep their pids")
	}
	other, err := pool.Shared(pool.WithWorkers(2), pool.WithMaxTasks(5))
	require.NoError(t, err)
	require.NotSame(t, first, other, "other options: a fresh pool")
	require.ErrorIs(t, first.Err(), pool.ErrShutdown, "the old one was shut down")
	require.NoError(t, other.Close())
}

func TestMap(t *testing.T) {
	p := newPool(t, pool.WithWorkers(2))
	ctx := context.Background()
	t.Run("order and errors at their position", func(t *testing.T) {
		i := 0
		var progress []int
		for v, err := range pool.Map(ctx, p, mixed, rangeN(1000), pool.WithProgress(func(done, total int) {
			progress = append(progress, done)
		})) {
			if i%100 == 7 {
				require.ErrorIs(t, err, errTask, "item %d", i)
			} else {
				require.NoError(t, err)
				require.Equal(t, i*i, v)
			}
			i++
		}
		require.Equal(t, 1000, i)
		require.Equal(t, 1000, progress[len(progress)-1])
	})
	t.Run("input stops early", func(t *testing.T) {
		got := 0
		for _, err := range pool.Map(ctx, p, square, rangeN(3)) {
			require.NoError(t, err)
			got++
		}
		require.Equal(t, 3, got)
	})
	t.Run("consumer stops early", func(t *testing.T) {
		got := 0
		for range pool.Map(ctx, p, square, rangeN(100_000)) {
			if got++; got == 10 {
				break
			}
		}
		require.Equal(t, 10, got)
	})
	t.Run("cancel stops dispatch", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		read := 0
		inputs := func(yield func(int) bool) {
			for i := 0; ; i++ {
				read++
				if !yield(i) {
					return
				}
			}
		}
		var last error
		n := 0
		for _, err := range pool.Map(cctx, p, square, inputs) {
			if n++; n == 100 {
				cancel()
			}
			last = err
		}
		require.ErrorIs(t, last, context.Canceled)
		require.Less(t, read, 1_000_000, "dispatch stopped")
	})
	t.Run("unordered", func(t *testing.T) {
		var got []int
		for v, err := range pool.MapUnordered(ctx, p, square, rangeN(500)) {
			require.NoError(t, err)
			got = append(got, v)
		}
		slices.Sort(got)
		require.Equal(t, squares(500), got)
	})
}

var mixed = actor.Func("pooltest.mixed", func(ctx context.Context, x int) (int, error) {
	if x%100 == 7 {
		return 0, fmt.Errorf("input %d: %w", x, errTask)
	}
	return x * x, nil
})

func TestCPUCount(t *testing.T) {
	require.GreaterOrEqual(t, pool.CPUCount(), 1)
	t.Setenv("GROVE_MAX_CPU_COUNT", "1")
	require.Equal(t, 1, pool.CPUCount())
}

func TestPoolInANursery(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		p, err := pool.Start(n, pool.WithWorkers(2))
		if err != nil {
			return err
		}
		v, err := pool.Submit(ctx, p, square, 11).Result(ctx)
		require.NoError(t, err)
		require.Equal(t, 121, v)
		n.Cancel(nil) // the pool's workers go with the nursery
		return nil
	})
	require.NoError(t, err)
}

func TestFutureCancel(t *testing.T) {
	p := newPool(t, pool.WithWorkers(1))
	running := pool.Submit(context.Background(), p, sleepy, 60_000)
	queued := pool.Submit(context.Background(), p, sleepy, 60_000)
	require.Eventually(t, func() bool { return len(p.PIDs()) == 1 }, 10*time.Second, 5*time.Millisecond)
	queued.Cancel()
	running.Cancel()
	_, err := running.Result(context.Background())
	require.ErrorIs(t, err, context.Canceled)
	_, err = queued.Result(context.Background())
	require.ErrorIs(t, err, context.Canceled)
	v, err := pool.Submit(context.Background(), p, square, 2).Result(context.Background())
	require.NoError(t, err, "the worker serves on")
	require.Equal(t, 4, v)
}

func TestOwnerKilledTakesTheWorkers(t *testing.T) {
	proctest.NeedsProcesses(t, "a pool-owning process to kill")
	proctest.NoChildrenLeft(t)
	var workers []int
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "owner")
		if err != nil {
			return err
		}
		s, err := owner.Open(ctx, ref, 2)
		if err != nil {
			return err
		}
		workers = append(workers, <-s.C, <-s.C)
		require.NoError(t, kill(ref.PID()))
		return s.Err()
	})
	require.Len(t, workers, 2)
	require.Empty(t, proctest.Gone(workers, time.Second), "no worker survives its pool's process")
}

func rangeN(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

func TestCancelledPoolFailsQueuedTasks(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pool.New(ctx, pool.WithWorkers(1))
	require.NoError(t, err)
	f := pool.Submit(context.Background(), p, sleepy, 60_000)
	cancel() // maybe while the worker is still spawning
	_, err = f.Result(context.Background())
	require.Error(t, err, "the future completes")
	require.NoError(t, p.Close(), "and the pool ends")
	_, err = pool.Submit(context.Background(), p, square, 1).Result(context.Background())
	require.ErrorIs(t, err, pool.ErrShutdown)
}

func TestGracefulShutdownRunsWhatItAccepted(t *testing.T) {
	proctest.NoChildrenLeft(t)
	p, err := pool.New(context.Background(), pool.WithWorkers(1), pool.WithMaxTasks(1))
	require.NoError(t, err)
	fs := submitAll(p, square, []int{2, 3, 4})
	require.NoError(t, p.Shutdown(context.Background()))
	outs, errs := results(t, fs)
	require.Equal(t, []error{nil, nil, nil}, errs, "replacement workers drain the queue")
	require.Equal(t, []int{4, 9, 16}, outs)
}

func TestOrderedMapReadsAheadBoundedly(t *testing.T) {
	p := newPool(t, pool.WithWorkers(2))
	read := 0
	inputs := func(yield func(int) bool) {
		for i := 0; ; i++ {
			read++
			ms := 1
			if i == 0 {
				ms = 300 // a slow head of the line
			}
			if !yield(ms) {
				return
			}
		}
	}
	for range pool.Map(context.Background(), p, sleepy, inputs, pool.WithBatchSize(1)) {
		break // the first result: the slow head
	}
	require.LessOrEqual(t, read, 2*2+1, "at most two batches a worker ahead")
}

// A nil pool, function or ctx gives a one-line error that names the
// function and the fix, never a nil-pointer panic.
func TestMisuseSaysTheFix(t *testing.T) {
	t.Parallel()
	var (
		nilCtx context.Context
		noPool *pool.Pool
		noFunc *actor.Function[int, int]
		noNurs *nursery.Nursery
	)
	ctx := context.Background()
	p, err := pool.New(ctx, pool.WithWorkers(1))
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()
	mapErr := func(p *pool.Pool, fn *actor.Function[int, int], ctx context.Context) error {
		for _, err := range pool.Map(ctx, p, fn, slices.Values([]int{1, 2})) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"Submit, nil pool", errOf(pool.Submit(ctx, noPool, square, 1).Result(ctx)), "pool: Submit on a nil *Pool"},
		{"Submit, nil Function", errOf(pool.Submit(ctx, p, noFunc, 1).Result(ctx)), "pool: Submit of a nil *actor.Function[int, int]"},
		{"Map, nil pool", mapErr(noPool, square, ctx), "pool: Map on a nil *Pool"},
		{"Map, nil ctx", mapErr(p, square, nilCtx), "pool: Map: nil ctx"},
		{"New, nil ctx", errOf(pool.New(nilCtx)), "pool: New: nil ctx"},
		{"Start, nil nursery", errOf(pool.Start(noNurs)), "pool: Start: nil *nursery.Nursery"},
		{"Shutdown, nil pool", noPool.Shutdown(ctx), "pool: Shutdown on a nil *Pool"},
		{"Shutdown, nil ctx", p.Shutdown(nilCtx), "pool: Shutdown: nil ctx"},
		{"Close, nil pool", noPool.Close(), "pool: Close on a nil *Pool"},
		{"Submit, nil ctx", errOf(pool.Submit(nilCtx, p, square, 1).Result(ctx)), "pool: Submit: nil ctx"},
	}
	for _, c := range cases {
		require.ErrorContains(t, c.err, c.want, c.name)
		require.NotContains(t, c.err.Error(), "\n", "%s: one line", c.name)
	}
}

// errOf keeps the error of a call that returns a value and an error.
func errOf[T any](_ T, err error) error { return err }

// TestResizeBackBeforeAShrinkTookEffect: a shrink undone before any worker
// was free to exit leaves no retirement behind: after their tasks, the
// three workers stay, with their pids.
func TestResizeBackBeforeAShrinkTookEffect(t *testing.T) {
	proctest.NeedsProcesses(t, "workers with distinct pids")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := newPool(t, pool.WithWorkers(3))
	// busy runs three long tasks at once and returns them once the three
	// workers run them (Eventually: the pool grows one spawn at a time).
	busy := func() []*pool.Future[int] {
		fs := submitAll(p, sleepy, []int{60_000, 60_000, 60_000})
		require.Eventually(t, func() bool { return len(p.PIDs()) == 3 }, 10*time.Second, time.Millisecond)
		return fs
	}
	stop := func(fs []*pool.Future[int]) {
		for _, f := range fs {
			f.Cancel()
			_, err := f.Result(ctx)
			require.ErrorIs(t, err, context.Canceled)
		}
	}
	fs := busy()
	before := p.PIDs()
	p.Resize(2)
	p.Resize(3)
	stop(fs)
	fs = busy()
	require.Equal(t, before, p.PIDs(), "no worker retired: the same three")
	stop(fs)
}
