package bridge_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/bridge"
)

// Issue 16: a Call whose ctx is the one its loop runs under waits on a
// plain receive, and the loop's sweep answers it when that ctx ends. These
// tests check that such a caller still returns at once when the ctx ends,
// whatever the loop is doing.

// runLoopUnder runs l under ctx in the background, once it has run what was
// posted so far (Calls made from then on know the ctx the loop runs under),
// and returns a function that waits for Run's error, at most 10 s.
func runLoopUnder(t *testing.T, ctx context.Context, l *bridge.Loop) func() error {
	t.Helper()
	done := make(chan error, 1)
	running := make(chan struct{})
	require.NoError(t, l.Post(func(context.Context) { close(running) }))
	go func() { done <- l.Run(ctx) }()
	<-running
	return func() error {
		t.Helper()
		return within(t, done, "the loop's Run")
	}
}

// within returns what ch delivers, failing the test after 10 s.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
		panic("unreachable")
	}
}

// waitQueued waits until n callbacks wait in l's queue, at most 10 s.
func waitQueued(t *testing.T, l *bridge.Loop, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for bridge.Queued(l) < n {
		require.True(t, time.Now().Before(deadline), "%d Calls never queued", n)
		runtime.Gosched()
	}
}

// callAsync makes a Call of fn onto l with ctx on a goroutine of its own and
// returns its error's channel.
func callAsync(ctx context.Context, l *bridge.Loop, fn func(context.Context) (int, error)) <-chan error {
	got := make(chan error, 1)
	go func() {
		_, err := bridge.Call(ctx, l, fn)
		got <- err
	}()
	return got
}

func TestCallWithTheLoopsCtxReturnsWhenItEnds(t *testing.T) {
	t.Parallel()
	cause := errors.New("the window was closed")

	t.Run("fn runs and ignores its ctx", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		l := bridge.NewLoop()
		stop := runLoopUnder(t, ctx, l)
		entered, release := make(chan struct{}), make(chan struct{})
		seen := make(chan [2]error, 1)
		got := callAsync(ctx, l, func(ctx context.Context) (int, error) {
			close(entered)
			<-release
			seen <- [2]error{ctx.Err(), context.Cause(ctx)}
			return 1, nil
		})
		<-entered
		cancel(cause)
		require.ErrorIs(t, within(t, got, "the Call"), context.Canceled, "the caller returns while fn still runs")
		close(release)
		fnSaw := within(t, seen, "fn")
		require.ErrorIs(t, fnSaw[0], context.Canceled, "fn's ctx ended with the caller's")
		require.Equal(t, cause, fnSaw[1])
		require.ErrorIs(t, stop(), context.Canceled)
	})

	t.Run("queued behind a callback that blocks", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		l := bridge.NewLoop()
		stop := runLoopUnder(t, ctx, l)
		entered, release := make(chan struct{}), make(chan struct{})
		require.NoError(t, l.Post(func(context.Context) { close(entered); <-release }))
		<-entered
		var ran atomic.Int32
		const calls = 3
		var gots []<-chan error
		for range calls {
			gots = append(gots, callAsync(ctx, l, func(context.Context) (int, error) { ran.Add(1); return 1, nil }))
		}
		waitQueued(t, l, calls)
		cancel()
		for _, got := range gots {
			require.ErrorIs(t, within(t, got, "a queued Call"), context.Canceled)
		}
		close(release)
		require.ErrorIs(t, stop(), context.Canceled)
		require.Zero(t, ran.Load(), "fn of a Call whose caller gave up never runs")
	})

	t.Run("made after it ended", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		l := bridge.NewLoop()
		stop := runLoopUnder(t, ctx, l)
		entered, release := make(chan struct{}), make(chan struct{})
		require.NoError(t, l.Post(func(context.Context) { close(entered); <-release }))
		<-entered
		cancel()
		ran := false
		err := within(t, callAsync(ctx, l, func(context.Context) (int, error) { ran = true; return 1, nil }), "the Call")
		require.ErrorIs(t, err, context.Canceled)
		close(release)
		require.ErrorIs(t, stop(), context.Canceled)
		require.False(t, ran)
		_, err = bridge.Call(ctx, l, func(context.Context) (int, error) { return 1, nil })
		require.ErrorIs(t, err, bridge.ErrLoopClosed)
	})

	t.Run("the loop blocked in a RunSync", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		l := bridge.NewLoop()
		stop := runLoopUnder(t, ctx, l)
		entered, release := make(chan struct{}), make(chan struct{})
		blocked := callAsync(ctx, l, func(ctx context.Context) (int, error) {
			return bridge.RunSync(ctx, func(context.Context) (int, error) { close(entered); <-release; return 1, nil })
		})
		<-entered
		got := callAsync(ctx, l, func(context.Context) (int, error) { return 1, nil })
		waitQueued(t, l, 1)
		cancel()
		require.ErrorIs(t, within(t, got, "a Call queued behind a RunSync"), context.Canceled)
		require.ErrorIs(t, within(t, blocked, "the Call blocked in its RunSync"), context.Canceled)
		close(release)
		require.ErrorIs(t, stop(), context.Canceled)
	})

	t.Run("fn waits on another loop under it", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a, b := bridge.NewLoop(), bridge.NewLoop()
		stopA, stopB := runLoopUnder(t, ctx, a), runLoopUnder(t, ctx, b)
		entered, release := make(chan struct{}), make(chan struct{})
		require.NoError(t, b.Post(func(context.Context) { close(entered); <-release })) // b is busy: a's Call onto it waits
		<-entered
		onA := callAsync(ctx, a, func(ctx context.Context) (int, error) {
			return bridge.Call(ctx, b, func(context.Context) (int, error) { return 1, nil })
		})
		waitQueued(t, b, 1)
		cancel()
		require.ErrorIs(t, within(t, onA, "a Call onto a whose fn waits for b"), context.Canceled)
		close(release)
		require.ErrorIs(t, stopA(), context.Canceled)
		require.ErrorIs(t, stopB(), context.Canceled)
	})

	t.Run("the loop's goroutine ended by runtime.Goexit", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		l := bridge.NewLoop()
		running := make(chan struct{})
		require.NoError(t, l.Post(func(context.Context) { close(running) }))
		go func() { _ = l.Run(ctx) }() // ended by fn's Goexit
		<-running
		_, err := bridge.Call(ctx, l, func(context.Context) (int, error) {
			runtime.Goexit()
			return 7, nil
		})
		require.ErrorContains(t, err, "runtime.Goexit")
		got := callAsync(ctx, l, func(context.Context) (int, error) { return 1, nil }) // no loop runs it
		waitQueued(t, l, 1)
		cancel()
		require.ErrorIs(t, within(t, got, "a Call onto a loop whose goroutine ended"), context.Canceled)
	})
}

// fn's ctx in a Call with the loop's own ctx (or one that cannot end) is the
// loop's: on the loop, ending with it; such a Call costs no allocation.
// Not parallel: it counts allocations.
func TestCallWithTheLoopsCtxGivesFnTheLoopsCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l := bridge.NewLoop()
	stop := runLoopUnder(t, ctx, l)
	var fnCtx context.Context
	_, err := bridge.Call(ctx, l, func(ctx context.Context) (int, error) { fnCtx = ctx; return 0, nil })
	require.NoError(t, err)
	require.Same(t, l, bridge.Current(fnCtx))
	require.Equal(t, ctx.Done(), fnCtx.Done(), "fn's ctx ends with the loop's")

	for _, caller := range []context.Context{ctx, context.Background()} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := bridge.Call(caller, l, work); err != nil {
				panic(err)
			}
		})
		require.Zero(t, allocs, "a Call with %v", caller)
	}
	cancel()
	require.ErrorIs(t, stop(), context.Canceled)
	require.ErrorIs(t, fnCtx.Err(), context.Canceled)
}

// Callers that wait on a plain receive (the loop's ctx), that select on a
// ctx of their own, and that cannot be cancelled, share a loop and its
// recycled records while the loop's ctx ends among them: each gets its own
// answer or the ctx's error, and none waits past the loop's end.
func TestCallsOfEveryWaitShareALoopAsItsCtxEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := bridge.NewLoop()
	stop := runLoopUnder(t, ctx, l)
	const callers, each = 4, 300
	var answered atomic.Int32
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				want := g*1000 + i
				caller, stop := ctx, func() {}
				switch (g + i) % 3 {
				case 1:
					caller, stop = context.WithCancel(context.Background())
				case 2:
					caller = context.Background()
				}
				got, err := bridge.Call(caller, l, func(context.Context) (int, error) { return want, nil })
				stop()
				if n := answered.Add(1); n == callers*each/2 {
					cancel() // halfway: the loop ends among the Calls
				}
				if err != nil {
					if caller == ctx && !errors.Is(err, bridge.ErrLoopClosed) {
						require.ErrorIs(t, err, context.Canceled)
					} else {
						require.ErrorIs(t, err, bridge.ErrLoopClosed)
					}
					continue
				}
				require.Equal(t, want, got)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	within(t, done, "the callers")
	require.ErrorIs(t, stop(), context.Canceled)
}
