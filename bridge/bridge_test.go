package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bridge"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/pool"
)

// runLoop runs l in the background and returns a function that stops it
// and returns Run's error.
func runLoop(t *testing.T, l *bridge.Loop) func() error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	return func() error {
		l.Stop()
		return <-done
	}
}

// onLoop runs fn on a fresh loop and returns its error.
func onLoop(t *testing.T, fn func(ctx context.Context) error) error {
	t.Helper()
	l := bridge.NewLoop(bridge.WithName("test"))
	var err error
	require.NoError(t, l.Post(func(ctx context.Context) {
		defer l.Stop()
		err = fn(ctx)
	}))
	require.NoError(t, l.Run(context.Background()))
	return err
}

func TestPostIsFIFOAndDrains(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	var got []int
	const n = 1000
	for i := range n {
		require.NoError(t, l.Post(func(ctx context.Context) {
			got = append(got, i)
			if i == n-1 {
				// Posts from the loop itself work, and run after the rest.
				require.NoError(t, l.Post(func(context.Context) { got = append(got, n) }))
				l.Stop()
			}
		}))
	}
	require.NoError(t, l.Run(context.Background()))
	want := make([]int, n+1)
	for i := range want {
		want[i] = i
	}
	require.Equal(t, want, got, "FIFO, and every accepted post ran")
	err := l.Post(func(context.Context) {})
	require.ErrorIs(t, err, bridge.ErrLoopClosed)
}

func TestPostFromManyGoroutinesAllRun(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	stop := runLoop(t, l)
	var ran atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 500 {
				if l.Post(func(context.Context) { ran.Add(1) }) != nil {
					t.Error("post failed while the loop ran")
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, stop())
	require.EqualValues(t, 20*500, ran.Load(), "every accepted post ran before Run returned")
}

func TestRun(t *testing.T) {
	t.Parallel()
	var ran bool
	require.NoError(t, bridge.Run(context.Background(), func(ctx context.Context) error {
		ran = bridge.Current(ctx) != nil
		return nil
	}))
	require.True(t, ran, "main runs on a loop")

	err := onLoop(t, func(ctx context.Context) error {
		return bridge.Run(ctx, func(ctx context.Context) error { return nil })
	})
	require.ErrorIs(t, err, bridge.ErrLoopRunning)
	require.ErrorContains(t, err, "use bridge.RunSync")
}

func TestRunSync(t *testing.T) {
	t.Parallel()
	v, err := bridge.RunSync(context.Background(), func(ctx context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	require.Equal(t, 1, v, "from plain code")

	err = onLoop(t, func(ctx context.Context) error {
		v, err := bridge.RunSync(ctx, func(ctx context.Context) (string, error) {
			return bridge.RunSync(ctx, func(ctx context.Context) (string, error) {
				return bridge.RunSync(ctx, func(ctx context.Context) (string, error) {
					return "three deep", nil
				})
			})
		})
		require.NoError(t, err)
		require.Equal(t, "three deep", v)
		return nil
	})
	require.NoError(t, err)
}

//go:noinline
func explode(context.Context) (int, error) { panic("kaboom") }

func TestRunSyncCrossesErrorsPanicsAndCancel(t *testing.T) {
	t.Parallel()
	errWork := errors.New("work failed")
	err := onLoop(t, func(ctx context.Context) error {
		_, err := bridge.RunSync(ctx, func(ctx context.Context) (int, error) { return 0, errWork })
		require.ErrorIs(t, err, errWork)

		_, err = bridge.RunSync(ctx, explode)
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "kaboom", pe.Value)
		require.Contains(t, string(pe.Stack), "bridge_test.explode")

		cctx, cancel := context.WithCancel(ctx)
		started := make(chan struct{})
		go func() { <-started; cancel() }()
		_, err = bridge.RunSync(cctx, func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		})
		require.ErrorIs(t, err, context.Canceled)
		return nil
	})
	require.NoError(t, err)
}

func TestCallFromRunSyncWorkRunsInTheWaitingRunSync(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop(bridge.WithName("kernel"))
	var v int
	var err error
	require.NoError(t, l.Post(func(ctx context.Context) {
		defer l.Stop()
		v, err = bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
			// The work asks the very loop that waits for it: the wait runs it.
			return bridge.Call(ctx, l, func(ctx context.Context) (int, error) {
				if bridge.Current(ctx) != l {
					return 0, errors.New("not on the loop")
				}
				return 1, nil
			})
		})
	}))
	require.NoError(t, l.Run(context.Background()))
	require.NoError(t, err)
	require.Equal(t, 1, v)
}

func TestCall(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	stop := runLoop(t, l)
	v, err := bridge.Call(context.Background(), l, func(ctx context.Context) (bool, error) {
		// On the loop: a Call from here runs inline.
		return bridge.Call(ctx, l, func(inner context.Context) (bool, error) {
			return bridge.Current(inner) == l, nil
		})
	})
	require.NoError(t, err)
	require.True(t, v)

	// From another goroutine, a Call waits for its turn behind a busy loop.
	release := make(chan struct{})
	require.NoError(t, l.Post(func(context.Context) { <-release }))
	got := make(chan int, 1)
	go func() {
		v, _ := bridge.Call(context.Background(), l, func(context.Context) (int, error) { return 7, nil })
		got <- v
	}()
	select {
	case <-got:
		t.Fatal("the Call ran while the loop was busy")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	require.Equal(t, 7, <-got)
	require.NoError(t, stop())

	_, err = bridge.Call(context.Background(), l, func(context.Context) (int, error) { return 0, nil })
	require.ErrorIs(t, err, bridge.ErrLoopClosed)
}

func TestCallerCancelReachesFn(t *testing.T) {
	t.Parallel()
	// However fn watches its ctx, the caller's cancel reaches it, and the
	// loop's values stay visible.
	tests := []struct {
		name  string
		watch func(ctx context.Context) error
	}{
		{"waits on Done", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		{"derives a context", func(ctx context.Context) error {
			child, cancel := context.WithTimeout(ctx, time.Hour)
			defer cancel()
			<-child.Done()
			return child.Err()
		}},
		{"polls Err", func(ctx context.Context) error {
			for ctx.Err() == nil {
				runtime.Gosched()
			}
			return ctx.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := bridge.NewLoop()
			stop := runLoop(t, l)
			ctx, cancel := context.WithCancel(context.Background())
			started := make(chan struct{})
			seen := make(chan error, 1)
			onLoop := make(chan bool, 1)
			go func() {
				<-started
				cancel()
			}()
			_, err := bridge.Call(ctx, l, func(ctx context.Context) (int, error) {
				close(started)
				err := tt.watch(ctx)
				onLoop <- bridge.Current(ctx) == l
				seen <- err
				return 0, err
			})
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, <-seen, context.Canceled)
			require.True(t, <-onLoop, "fn's ctx still carries the loop")
			require.NoError(t, stop())
		})
	}
}

func TestGo(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	type event struct {
		what string
		on   bool
	}
	var events []event
	release := make(chan struct{})
	done := make(chan struct{})
	cancelled := make(chan error, 2)
	require.NoError(t, l.Post(func(ctx context.Context) {
		bridge.Go(ctx, func(ctx context.Context) (string, error) {
			<-release
			return "work done", nil
		}, func(v string, err error) {
			events = append(events, event{v, true})
			close(done)
		})
		cctx, cancel := context.WithCancel(ctx)
		bridge.Go(cctx, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, errors.New("late result, dropped")
		}, func(_ int, err error) { cancelled <- err })
		cancel()
	}))
	// The loop keeps serving while the work runs.
	require.NoError(t, l.Post(func(ctx context.Context) {
		events = append(events, event{"served meanwhile", bridge.Current(ctx) == l})
		close(release)
	}))
	require.NoError(t, l.Post(func(context.Context) {
		go func() { <-done; l.Stop() }()
	}))
	require.NoError(t, l.Run(context.Background()))
	require.Equal(t, []event{{"served meanwhile", true}, {"work done", true}}, events)
	require.ErrorIs(t, <-cancelled, context.Canceled)
	require.Empty(t, cancelled, "then ran once")
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	const n = 3
	lim := bridge.NewLimiter(n)
	var running, peak atomic.Int64
	full := make(chan struct{}) // closed when N run at once
	var fullOnce sync.Once
	err := onLoop(t, func(context.Context) error {
		var wg sync.WaitGroup
		for range 2 * n {
			wg.Go(func() {
				// Each from its own loop, so they offload at once.
				_ = onLoop(t, func(lctx context.Context) error {
					_, err := bridge.RunSync(bridge.WithLimiter(lctx, lim), func(ctx context.Context) (int, error) {
						now := running.Add(1)
						for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
						}
						if now == n {
							fullOnce.Do(func() { close(full) })
						}
						<-full // the first N hold their slots until all N run
						running.Add(-1)
						return 0, nil
					})
					return err
				})
			})
		}
		wg.Wait()
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, n, peak.Load(), "never more than N at once, and N reached")
}

func TestPingPongDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	stop := runLoop(t, l)
	deadline := time.Now().Add(2 * time.Second)
	var rounds atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				// loop -> goroutine -> loop
				_, err := bridge.Call(context.Background(), l, func(ctx context.Context) (int, error) {
					return bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
						rounds.Add(1)
						return 0, nil
					})
				})
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, stop())
	require.Positive(t, rounds.Load())
}

func TestPanicInACallbackEndsRunWithTheStack(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	var after bool
	require.NoError(t, l.Post(func(context.Context) { panic("callback broke") }))
	require.NoError(t, l.Post(func(context.Context) { after = true }))
	err := l.Run(context.Background())
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "callback broke", pe.Value)
	require.Contains(t, string(pe.Stack), "TestPanicInACallbackEndsRunWithTheStack")
	require.True(t, after, "accepted posts still ran")
}

var square = actor.Func("bridgetest.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })

func TestRunSyncDrivesAPoolFromALoop(t *testing.T) {
	proctest.NoChildrenLeft(t)
	p, err := pool.New(context.Background(), pool.WithWorkers(2))
	require.NoError(t, err)
	defer p.Close()
	err = onLoop(t, func(ctx context.Context) error {
		got, err := bridge.RunSync(ctx, func(ctx context.Context) ([]int, error) {
			var out []int
			for v, err := range pool.Map(ctx, p, square, slices.Values([]int{1, 2, 3, 4})) {
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, nil
		})
		if err != nil {
			return err
		}
		if !slices.Equal(got, []int{1, 4, 9, 16}) {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestGoThenOnStopGetsErrLoopClosed(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	got := make(chan error, 1)
	require.NoError(t, l.Post(func(ctx context.Context) {
		bridge.Go(ctx, func(ctx context.Context) (int, error) {
			<-ctx.Done() // unfinished when the loop stops
			return 0, nil
		}, func(_ int, err error) { got <- err })
		l.Stop()
	}))
	require.NoError(t, l.Run(context.Background()))
	select {
	case err := <-got:
		require.ErrorIs(t, err, bridge.ErrLoopClosed, "unfinished work is not a success")
	default:
		t.Fatal("then did not run: Run waits for the work and runs what it posts")
	}
}

func TestRunSyncWaitingForASlotHeldByGoWorkThatCallsBack(t *testing.T) {
	t.Parallel()
	lim := bridge.NewLimiter(1)
	l := bridge.NewLoop(bridge.WithName("ui"))
	holding := make(chan struct{})
	var callErr, syncErr error
	require.NoError(t, l.Post(func(ctx context.Context) {
		ctx = bridge.WithLimiter(ctx, lim)
		bridge.Go(ctx, func(ctx context.Context) (int, error) {
			close(holding) // holds the only slot...
			// ...and asks the loop, which is about to block in RunSync
			// waiting for that slot.
			for {
				_, err := bridge.Call(ctx, l, func(context.Context) (int, error) { return 0, nil })
				if err != nil {
					callErr = err
					return 0, err
				}
			}
		}, func(int, error) {})
		<-holding
		_, syncErr = bridge.RunSync(ctx, func(ctx context.Context) (int, error) { return 1, nil })
		l.Stop()
	}))
	require.NoError(t, l.Run(context.Background()))
	require.NoError(t, syncErr, "the RunSync got its slot once the work gave up")
	require.ErrorIs(t, callErr, bridge.ErrLoopBlocked)
	require.ErrorContains(t, callErr, "loop ui waits in bridge.RunSync at")
	require.ErrorContains(t, callErr, "bridge_test.go")
}

func TestOffLoop(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	stop := runLoop(t, l)
	v, err := bridge.Call(context.Background(), l, func(ctx context.Context) (bool, error) {
		off := bridge.OffLoop(ctx)
		return bridge.Current(ctx) == l && bridge.Current(off) == nil, nil
	})
	require.NoError(t, err)
	require.True(t, v)
	// A goroutine started by hand with OffLoop calls back and waits its
	// turn, rather than running inline beside the loop.
	got := make(chan bool, 1)
	_, err = bridge.Call(context.Background(), l, func(ctx context.Context) (int, error) {
		off := bridge.OffLoop(ctx)
		go func() {
			v, _ := bridge.Call(off, l, func(ctx context.Context) (bool, error) { return bridge.Current(ctx) == l, nil })
			got <- v
		}()
		return 0, nil
	})
	require.NoError(t, err)
	require.True(t, <-got)
	require.NoError(t, stop())
}
