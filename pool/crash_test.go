package pool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/pool"
)

// panicArg panics in the caller's encoder when Panic is set.
type panicArg struct{ Panic bool }

func (a panicArg) EncodeMsgpack(e *msgpack.Encoder) error {
	if a.Panic {
		panic("the caller's encoder panicked")
	}
	return e.EncodeBool(false)
}

func (a *panicArg) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	a.Panic, err = d.DecodeBool()
	return err
}

// panicResult panics in the caller's decoder for a value ending in 7.
type panicResult struct{ V int }

func (r panicResult) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeInt(int64(r.V)) }

func (r *panicResult) DecodeMsgpack(d *msgpack.Decoder) (err error) {
	if r.V, err = d.DecodeInt(); err == nil && r.V%10 == 7 {
		panic("the caller's decoder panicked")
	}
	return err
}

var (
	encodePanics = actor.Func("pooltest.encodePanics", func(ctx context.Context, a panicArg) (int, error) { return 1, nil })
	decodePanics = actor.Func("pooltest.decodePanics", func(ctx context.Context, x int) (panicResult, error) {
		return panicResult{V: x}, nil
	})
	// crashAt exits its worker with code 7 on the inputs marked to crash
	// ([1] == 1) and squares the others.
	crashAt = actor.Func("pooltest.crashAt", func(ctx context.Context, in [2]int) (int, error) {
		if in[1] == 1 {
			os.Exit(7)
		}
		return in[0] * in[0], nil
	})
	// exitZero exits its worker with status 0 on input 0, and by SIGTERM
	// (after which the actor exits 0) on input -1.
	exitZero = actor.Func("pooltest.exitZero", func(ctx context.Context, x int) (int, error) {
		switch x {
		case 0:
			os.Exit(0)
		case -1:
			die(int(syscall.SIGTERM))
		}
		return x * x, nil
	})
	// marked appends its input to the file named after its worker's pid in
	// dir, then works for ms milliseconds: the file's last line names the
	// item a worker was running when it was killed.
	marked = actor.Func("pooltest.marked", func(ctx context.Context, in markedIn) (int, error) {
		f, err := os.OpenFile(filepath.Join(in.Dir, strconv.Itoa(os.Getpid())), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return 0, err
		}
		_, err = fmt.Fprintln(f, in.I)
		f.Close()
		if err != nil {
			return 0, err
		}
		select {
		case <-time.After(time.Duration(in.Ms) * time.Millisecond):
			return in.I * in.I, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
)

type markedIn struct {
	Dir   string
	I, Ms int
}

func TestCallerCodecPanicFailsItsFuture(t *testing.T) {
	p := newPool(t, pool.WithWorkers(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pe *nursery.PanicError
	_, err := pool.Submit(ctx, p, encodePanics, panicArg{Panic: true}).Result(ctx)
	require.ErrorAs(t, err, &pe, "a panic in the argument's encoder")
	require.Contains(t, fmt.Sprint(pe.Value), "encoder panicked")
	_, err = pool.Submit(ctx, p, decodePanics, 7).Result(ctx)
	require.ErrorAs(t, err, &pe, "a panic in the result's decoder")
	require.Contains(t, fmt.Sprint(pe.Value), "decoder panicked")

	i := 0
	for v, err := range pool.Map(ctx, p, encodePanics, func(yield func(panicArg) bool) {
		for i := range 20 {
			if !yield(panicArg{Panic: i%5 == 3}) {
				return
			}
		}
	}) {
		require.Less(t, i, 20, "one result per input, then nothing: %v", err)
		if i%5 == 3 {
			require.ErrorAs(t, err, &pe, "item %d", i)
		} else {
			require.NoError(t, err, "item %d fails alone", i)
			require.Equal(t, 1, v)
		}
		i++
	}
	require.Equal(t, 20, i)
	i = 0
	for v, err := range pool.Map(ctx, p, decodePanics, rangeN(30)) {
		require.Less(t, i, 30, "one result per input, then nothing: %v", err)
		if i%10 == 7 {
			require.ErrorAs(t, err, &pe, "item %d", i)
		} else {
			require.NoError(t, err, "item %d fails alone", i)
			require.Equal(t, i, v.V)
		}
		i++
	}
	require.Equal(t, 30, i)
	v, err := pool.Submit(ctx, p, square, 3).Result(ctx)
	require.NoError(t, err, "the worker serves on")
	require.Equal(t, 9, v)
}

func TestIdleWorkerJustKilledGetsNoTask(t *testing.T) {
	proctest.NeedsProcesses(t, "a worker process to kill")
	p := newPool(t, pool.WithWorkers(1), pool.WithCrashLimit(1000, time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 30 {
		worker, err := pool.Submit(ctx, p, pid, 0).Result(ctx)
		require.NoError(t, err)
		require.NoError(t, kill(worker)) // idle now: it finished its task
		v, err := pool.Submit(ctx, p, square, i).Result(ctx)
		require.NoError(t, err, "round %d: the task never started on the dead worker", i)
		require.Equal(t, i*i, v)
	}
}

func TestExitWithStatusZeroIsADeath(t *testing.T) {
	proctest.NeedsProcesses(t, "a worker process that exits")
	for _, how := range []int{0, -1} { // os.Exit(0), SIGTERM
		t.Run(strconv.Itoa(how), func(t *testing.T) {
			p := newPool(t, pool.WithWorkers(1), pool.WithCrashLimit(100, time.Minute))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for round := range 5 {
				fs := []*pool.Future[int]{pool.Submit(context.Background(), p, exitZero, how)}
				fs = append(fs, submitAll(p, exitZero, []int{1, 2, 3, 4})...)
				_, err := fs[0].Result(ctx)
				require.Error(t, err, "round %d: the task whose worker exited fails", round)
				for i, f := range fs[1:] {
					v, err := f.Result(ctx)
					require.NoError(t, err, "round %d: task %d went to a live worker", round, i+1)
					require.Equal(t, (i+1)*(i+1), v)
				}
			}
		})
	}
}

func TestBrokenPoolFailsTheTasksItCut(t *testing.T) {
	proctest.NeedsProcesses(t, "a worker process that exits")
	p := newPool(t, pool.WithWorkers(3), pool.WithCrashLimit(0, time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A task and a batch of Map run on two workers; a third dies, which
	// breaks the pool (no death is allowed) and cuts the first two.
	running := pool.Submit(context.Background(), p, sleepy, 60_000)
	require.Eventually(t, func() bool { return len(p.PIDs()) == 1 }, 10*time.Second, time.Millisecond)
	var mapErrs []error
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, err := range pool.Map(ctx, p, sleepy, slices.Values([]int{60_000, 60_000}), pool.WithBatchSize(2)) {
			mapErrs = append(mapErrs, err)
		}
	})
	require.Eventually(t, func() bool { return len(p.PIDs()) == 2 }, 10*time.Second, time.Millisecond)
	_, err := pool.Submit(ctx, p, alwaysExit, 0).Result(ctx)
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	_, err = running.Result(ctx)
	require.ErrorIs(t, err, pool.ErrBroken, "the running task was cut by the break")
	wg.Wait()
	require.Len(t, mapErrs, 2)
	for _, err := range mapErrs {
		require.ErrorIs(t, err, pool.ErrBroken, "the batch was cut by the break")
	}
}

func TestMapCrashFailsOnlyTheRunningItem(t *testing.T) {
	proctest.NeedsProcesses(t, "worker processes that exit")
	p := newPool(t, pool.WithWorkers(2), pool.WithCrashLimit(100, time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for round := range 3 {
		const n = 3000
		crash := map[int]bool{}
		for len(crash) < 4 {
			crash[rand.IntN(n)] = true
		}
		ins := make([][2]int, n)
		for i := range ins {
			ins[i][0] = i
			if crash[i] {
				ins[i][1] = 1
			}
		}
		i := 0
		for v, err := range pool.Map(ctx, p, crashAt, slices.Values(ins), pool.WithBatchSize(256)) {
			require.Less(t, i, n, "round %d: one result per input: %v", round, err)
			if crash[i] {
				var ee *actor.ExitError
				require.ErrorAs(t, err, &ee, "round %d: item %d crashed its worker", round, i)
				require.Equal(t, 7, ee.Code)
			} else {
				require.NoError(t, err, "round %d: item %d did not crash", round, i)
				require.Equal(t, i*i, v)
			}
			i++
		}
		require.Equal(t, n, i)
	}
}

func TestMapUnderWorkersKilledEvery50ms(t *testing.T) {
	proctest.NeedsProcesses(t, "worker processes to kill")
	p := newPool(t, pool.WithWorkers(2), pool.WithCrashLimit(1000, time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	const n = 1500
	killed := map[int]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if pids := p.PIDs(); len(pids) > 0 {
				target := pids[k%len(pids)]
				if kill(target) == nil {
					killed[target] = true
				}
			}
		}
	})
	failed := map[int]int{} // the pid of each failure's worker, by item
	i := 0
	for v, err := range pool.Map(ctx, p, marked, func(yield func(markedIn) bool) {
		for i := range n {
			if !yield(markedIn{Dir: dir, I: i, Ms: 1}) {
				return
			}
		}
	}) {
		require.Less(t, i, n, "one result per input: %v", err)
		var ee *actor.ExitError
		if errors.As(err, &ee) {
			require.Equal(t, syscall.SIGKILL, ee.Signal, "only kills fail items: %v", err)
			failed[i] = ee.Actor.PID
		} else {
			require.NoError(t, err, "item %d", i)
			require.Equal(t, i*i, v)
		}
		i++
	}
	close(stop)
	wg.Wait()
	require.Equal(t, n, i, "every input came back once")
	// Each failure is the item its worker was running when it was killed:
	// the last its worker began, or one it had not yet marked.
	perWorker := map[int]int{}
	for item, pid := range failed {
		perWorker[pid]++
		require.Equal(t, 1, perWorker[pid], "one failure per death")
		require.True(t, killed[pid], "item %d failed with a worker that was killed", item)
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(pid)))
		require.NoError(t, err)
		lines := strings.Fields(string(b))
		if slices.Contains(lines, strconv.Itoa(item)) {
			require.Equal(t, strconv.Itoa(item), lines[len(lines)-1], "item %d had finished in worker %d", item, pid)
		}
	}
	t.Logf("%d kills, %d items failed", len(killed), len(failed))
}

// childDies spawns an actor of its own in the worker that exits with code
// 3 on its first call, and returns that death.
var childDies = actor.Func("pooltest.childDies", func(ctx context.Context, _ int) (int, error) {
	return 0, nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "grandchild")
		if err != nil {
			return err
		}
		_, err = alwaysExit.Call(ctx, ref, 0)
		return err
	})
})

// TestRelayedDeathIsNotTheWorkers: a task whose function relays the death
// of an actor of its own fails with that death, and its worker, alive,
// serves on: the pool neither replaces it nor counts it toward the crash
// limit.
func TestRelayedDeathIsNotTheWorkers(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit code from a grandchild")
	proctest.NoChildrenLeft(t)
	ctx := context.Background()
	p, err := pool.New(ctx, pool.WithWorkers(1), pool.WithCrashLimit(3, time.Minute))
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Shutdown(ctx)) }()
	worker, err := pool.Submit(ctx, p, pid, 0).Result(ctx)
	require.NoError(t, err)
	for i := range 5 { // more than the crash limit
		_, err := pool.Submit(ctx, p, childDies, 0).Result(ctx)
		var ee *actor.ExitError
		require.ErrorAs(t, err, &ee, "task %d", i)
		require.Equal(t, "grandchild", ee.Actor.Name)
		require.Equal(t, 3, ee.Code)
		require.NotEmpty(t, ee.Via, "relayed by the worker")
	}
	require.NoError(t, p.Err(), "not broken")
	got, err := pool.Submit(ctx, p, pid, 0).Result(ctx)
	require.NoError(t, err)
	require.Equal(t, worker, got, "the same worker serves on")
}

// resultEncodePanics returns, for input 2, a result whose own encoder
// panics in the worker.
var resultEncodePanics = actor.Func("pooltest.resultEncodePanics", func(ctx context.Context, x int) (panicArg, error) {
	return panicArg{Panic: x == 2}, nil
})

// TestResultEncoderPanicFailsItsItemAlone: in a batch, an item whose
// result's encoder panics fails alone, as a remote panic.
func TestResultEncoderPanicFailsItsItemAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, err := pool.New(ctx, pool.WithWorkers(1))
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Shutdown(ctx)) }()
	i := 0
	for _, err := range pool.Map(ctx, p, resultEncodePanics, slices.Values([]int{0, 1, 2, 3}), pool.WithBatchSize(4)) {
		if i == 2 {
			var re *actor.RemoteError
			require.ErrorAs(t, err, &re, "item %d", i)
			require.True(t, re.Panicked(), "%v", err)
			require.Contains(t, re.Message, "the caller's encoder panicked")
		} else {
			require.NoError(t, err, "item %d fails alone", i)
		}
		i++
	}
	require.Equal(t, 4, i)
}

// crashNeg exits its worker with code 7 on a negative input and squares
// the rest.
var crashNeg = actor.Func("pooltest.crashNeg", func(ctx context.Context, x int) (int, error) {
	if x < 0 {
		os.Exit(7)
	}
	return x * x, nil
})

// With one worker, each batch of Map is sent behind the one running (no
// worker is idle to take it): a crash, at either end of a batch or inside
// one, fails only its item; the batch queued behind it runs again on the
// replacement, and the results keep their order.
func TestMapCrashWithABatchQueuedBehind(t *testing.T) {
	proctest.NeedsProcesses(t, "worker processes that exit")
	p := newPool(t, pool.WithWorkers(1), pool.WithCrashLimit(100, time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n, size = 200, 8
	crash := map[int]bool{8: true, 23: true, 24: true, 100: true, 199: true}
	for _, unordered := range []bool{false, true} {
		ins := make([]int, n)
		for i := range ins {
			ins[i] = i
			if crash[i] {
				ins[i] = -1 - i
			}
		}
		mapper := pool.Map[int, int]
		if unordered {
			mapper = pool.MapUnordered[int, int]
		}
		got := map[int]bool{}
		i := 0
		for v, err := range mapper(ctx, p, crashNeg, slices.Values(ins), pool.WithBatchSize(size)) {
			require.Less(t, i, n, "one result per input: %v", err)
			i++
			var ee *actor.ExitError
			if errors.As(err, &ee) {
				require.Equal(t, 7, ee.Code)
				require.False(t, errors.Is(err, actor.ErrNotStarted) || errors.Is(err, actor.ErrResultLost), "the crash's own item: %v", err)
				got[-1] = true
				continue
			}
			require.NoError(t, err)
			if !unordered {
				require.Equal(t, (i-1)*(i-1), v, "in input order")
			}
			got[v] = true
		}
		require.Equal(t, n, i)
		for j := range n {
			if !crash[j] {
				require.True(t, got[j*j], "unordered %v: item %d has its result", unordered, j)
			}
		}
	}
}

// A cancel while a worker runs a batch with another queued behind it ends
// Map at once with ctx's error; the worker's batches are cancelled.
func TestMapCancelWithABatchQueuedBehind(t *testing.T) {
	p := newPool(t, pool.WithWorkers(1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ins := slices.Repeat([]int{20}, 200) // 4 s of work, 40 ms a batch
	start := time.Now()
	var last error
	n := 0
	for _, err := range pool.Map(ctx, p, sleepy, slices.Values(ins), pool.WithBatchSize(2)) {
		if n++; n == 3 {
			cancel()
		}
		last = err
	}
	require.ErrorIs(t, last, context.Canceled)
	require.Less(t, n, 20, "dispatch stopped")
	require.Less(t, time.Since(start), 2*time.Second, "returned without running the rest")
	// The worker serves on: its queued batch was cancelled, not stuck.
	for v, err := range pool.Map(context.Background(), p, square, rangeN(10), pool.WithBatchSize(2)) {
		require.NoError(t, err)
		_ = v
	}
}
