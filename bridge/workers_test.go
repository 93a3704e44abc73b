package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/bridge"
	"github.com/grove-rt/grove/nursery"
)

// Issue 16: RunSync's work runs on parked workers that the calling loop
// keeps. Not parallel: it checks that the loop's Run leaves no goroutine,
// more workers than the pool parks included.
func TestRunSyncWorkersEndWithTheirLoop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const depth = 40 // more RunSyncs at once than the pool parks
	err := onLoop(t, func(ctx context.Context) error {
		for range 3 { // the second and third rounds reuse the parked workers
			got, err := nestCount(ctx, depth)
			if err != nil {
				return err
			}
			require.Equal(t, depth, got)
		}
		return nil
	})
	require.NoError(t, err)
}

// nestCount runs RunSync depth levels deep and counts the levels.
func nestCount(ctx context.Context, depth int) (int, error) {
	if depth == 0 {
		return 0, nil
	}
	return bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
		n, err := nestCount(ctx, depth-1)
		return n + 1, err
	})
}

// A worker runs one RunSync after another, each on a fresh loop: what the
// work leaves behind (its loop, its ctx, a callback it posted, Go work, a
// panic) does not reach the next, and its loop stays ended.
func TestRunSyncReusesWorkersWithFreshLoops(t *testing.T) {
	t.Parallel()
	err := onLoop(t, func(ctx context.Context) error {
		var loops []*bridge.Loop
		var ctxs []context.Context
		for i := range 20 {
			posted := false
			v, err := bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
				loops = append(loops, bridge.Current(ctx))
				ctxs = append(ctxs, ctx)
				require.NoError(t, bridge.Current(ctx).Post(func(context.Context) { posted = true }))
				bridge.Go(ctx, func(ctx context.Context) (int, error) {
					<-ctx.Done() // the loop's end cancels it
					return 0, ctx.Err()
				}, func(int, error) {})
				if i%5 == 4 {
					panic("boom")
				}
				return i, nil
			})
			if i%5 == 4 {
				var pe *nursery.PanicError
				require.ErrorAs(t, err, &pe)
			} else {
				require.NoError(t, err)
				require.Equal(t, i, v)
			}
			require.True(t, posted, "the fresh loop drained what its work posted")
		}
		for i, l := range loops {
			for _, other := range loops[:i] {
				require.NotSame(t, other, l, "each RunSync gets a loop of its own")
			}
			require.ErrorIs(t, l.Post(func(context.Context) {}), bridge.ErrLoopClosed)
			require.Same(t, l, bridge.Current(ctxs[i]), "a kept ctx still names its own loop")
		}
		return nil
	})
	require.NoError(t, err)
}

// A RunSync whose fn calls runtime.Goexit (t.FailNow from the work) returns
// an error instead of waiting forever; the next RunSync works. Before issue
// 16 the loop waited forever for the work's goroutine.
func TestRunSyncFnCallingGoexitReturnsAnError(t *testing.T) {
	t.Parallel()
	done := make(chan error, 1)
	go func() {
		done <- onLoop(t, func(ctx context.Context) error {
			_, err := bridge.RunSync(ctx, func(context.Context) (int, error) {
				runtime.Goexit()
				return 0, nil
			})
			if err == nil {
				return errors.New("RunSync returned no error")
			}
			require.ErrorContains(t, err, "runtime.Goexit")
			v, err := bridge.RunSync(ctx, func(context.Context) (int, error) { return 7, nil })
			require.NoError(t, err)
			require.Equal(t, 7, v)
			return nil
		})
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("RunSync still waits for work that called runtime.Goexit")
	}
}

// Calls recycle their records: Calls that give up (their ctx ends while
// the loop runs fn) interleaved with Calls that get their answer never take
// another's answer.
func TestCallsThatGiveUpDoNotCrossOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	callFromMany(t, 4, 200, func(l *bridge.Loop, g, i int) {
		if (g+i)%3 == 0 { // gives up while the loop is busy with it
			ctx, cancel := context.WithCancel(context.Background())
			_, err := bridge.Call(ctx, l, func(context.Context) (int, error) {
				cancel()
				<-release // keeps the loop busy until the caller has gone
				return -1, nil
			})
			if err != nil {
				require.ErrorIs(t, err, context.Canceled)
			}
			return
		}
		want := g*1000 + i
		got, err := bridge.Call(context.Background(), l, func(context.Context) (int, error) { return want, nil })
		require.NoError(t, err)
		require.Equal(t, want, got)
	}, func() { close(release) })
}

// Calls of different result types share a loop's spare record only when
// the types agree: interleaved, each gets its own answer.
func TestCallsOfManyTypesRecycleTheirOwnRecords(t *testing.T) {
	t.Parallel()
	l := callFromMany(t, 3, 300, func(l *bridge.Loop, g, i int) {
		switch (g + i) % 3 {
		case 0:
			got, err := bridge.Call(context.Background(), l, func(context.Context) (int, error) { return i, nil })
			require.NoError(t, err)
			require.Equal(t, i, got)
		case 1:
			got, err := bridge.Call(context.Background(), l, func(context.Context) (string, error) { return fmt.Sprint(i), nil })
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(i), got)
		default:
			_, err := bridge.Call(context.Background(), l, func(context.Context) (struct{}, error) { return struct{}{}, fmt.Errorf("no %d", i) })
			require.EqualError(t, err, fmt.Sprintf("no %d", i))
		}
	}, func() {})
	_, err := bridge.Call(context.Background(), l, func(context.Context) (int, error) { return 0, nil })
	require.ErrorIs(t, err, bridge.ErrLoopClosed)
}

// callFromMany runs a loop and, from callers goroutines, call(l, g, i) for
// each i below each; started runs once they have all started. It returns
// the loop, ended.
func callFromMany(t *testing.T, callers, each int, call func(l *bridge.Loop, g, i int), started func()) *bridge.Loop {
	t.Helper()
	l := bridge.NewLoop()
	ran := make(chan error, 1)
	go func() { ran <- l.Run(context.Background()) }()
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				call(l, g, i)
			}
		}()
	}
	started()
	wg.Wait()
	l.Stop()
	require.NoError(t, <-ran)
	return l
}

// A RunSync from a goroutine that kept the ctx of a loop that has ended
// still runs, on a worker it starts and joins itself: the loop's pool is
// closed.
func TestRunSyncAfterItsLoopEnded(t *testing.T) {
	t.Parallel()
	var kept context.Context
	require.NoError(t, onLoop(t, func(ctx context.Context) error {
		kept = ctx
		return nil
	}))
	for i := range 3 {
		v, err := bridge.RunSync(kept, func(context.Context) (int, error) { return i, nil })
		require.NoError(t, err)
		require.Equal(t, i, v)
	}
}

// A Call whose fn calls runtime.Goexit (t.FailNow on the loop) ends the
// loop's goroutine; the caller gets an error that says so, not fn's zero
// result as if it had succeeded.
func TestCallFnCallingGoexitReturnsAnError(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop(bridge.WithName("doomed"))
	go func() { _ = l.Run(context.Background()) }() // ended by fn's Goexit
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := bridge.Call(ctx, l, func(context.Context) (int, error) {
		runtime.Goexit()
		return 7, nil
	})
	require.ErrorContains(t, err, "runtime.Goexit")
	require.Zero(t, v)
}

// A panic with a nil value in the work of a RunSync, or in a Call's fn,
// comes back as a *nursery.PanicError (holding the runtime's
// *runtime.PanicNilError), never as success.
func TestPanicNilInBridgeWork(t *testing.T) {
	t.Parallel()
	err := onLoop(t, func(ctx context.Context) error {
		_, err := bridge.RunSync(ctx, func(context.Context) (int, error) { panic(nil) })
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe)
		var pn *runtime.PanicNilError
		require.ErrorAs(t, err, &pn)
		return nil
	})
	require.NoError(t, err)
	l := bridge.NewLoop()
	stop := runLoop(t, l)
	_, err = bridge.Call(context.Background(), l, func(context.Context) (int, error) { panic(nil) })
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	require.NoError(t, stop())
}

// Work started with Go whose fn calls runtime.Goexit delivers an error
// that says so, and gives back its slot of the offload limiter: the next
// work on a one-slot limiter runs.
func TestGoFnCallingGoexit(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	stop := runLoop(t, l)
	lim := bridge.NewLimiter(1)
	got := make(chan error, 2)
	require.NoError(t, l.Post(func(ctx context.Context) {
		ctx = bridge.WithLimiter(ctx, lim)
		bridge.Go(ctx, func(context.Context) (int, error) {
			runtime.Goexit()
			return 1, nil
		}, func(_ int, err error) {
			got <- err
			bridge.Go(ctx, func(context.Context) (int, error) { return 2, nil }, func(v int, err error) {
				if err == nil && v != 2 {
					err = fmt.Errorf("got %d, want 2", v)
				}
				got <- err
			})
		})
	}))
	for i := range 2 {
		select {
		case err := <-got:
			if i == 0 {
				require.ErrorContains(t, err, "runtime.Goexit")
			} else {
				require.NoError(t, err, "the next work on the limiter")
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("work %d never delivered", i)
		}
	}
	require.NoError(t, stop())
}
