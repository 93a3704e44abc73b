package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/bridge"
	"github.com/grove-rt/grove/nursery"
)

// nest runs RunSync depth levels deep and returns what the ctx at the
// bottom says of itself: each context layer adds to its String.
func nest(ctx context.Context, depth int) (string, error) {
	if depth == 0 {
		return fmt.Sprint(ctx), ctx.Err()
	}
	return bridge.RunSync(ctx, func(ctx context.Context) (string, error) { return nest(ctx, depth-1) })
}

// bottomContext runs RunSync depth levels deep on a loop and returns the
// String of the ctx the deepest work gets.
func bottomContext(t *testing.T, depth int) string {
	t.Helper()
	var got string
	err := onLoop(t, func(lctx context.Context) error {
		var err error
		got, err = nest(lctx, depth)
		return err
	})
	require.NoError(t, err)
	return got
}

// Item 7: a level of RunSync adds no layer to the context chain that its
// loops and their work walk (every Done, Err and Value forwards through
// each layer), so the cost per level is flat.
func TestNestedRunSyncDoesNotDeepenTheContext(t *testing.T) {
	t.Parallel()
	shallow, deep := bottomContext(t, 10), bottomContext(t, 1000)
	require.Equal(t, strings.Count(shallow, "."), strings.Count(deep, "."),
		"the ctx at depth 1,000 has more layers than at depth 10:\n%.300s\n%.300s", deep, shallow)
}

// Item 8: work started with Go belongs to the loop, not to the callback
// that started it, whether a Post or a Call ran that callback.
func TestGoOutlivesTheCallbackThatStartedIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(l *bridge.Loop, cb func(ctx context.Context)) error
	}{
		{"Post", func(l *bridge.Loop, cb func(ctx context.Context)) error { return l.Post(cb) }},
		{"Call with a cancellable ctx", func(l *bridge.Loop, cb func(ctx context.Context)) error {
			ctx, cancel := context.WithCancel(context.Background())
			_, err := bridge.Call(ctx, l, func(ctx context.Context) (int, error) { cb(ctx); return 0, nil })
			cancel() // the caller's ctx ends once the Call is over, as with defer cancel()
			return err
		}},
		{"Call with a ctx fn watched", func(l *bridge.Loop, cb func(ctx context.Context)) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := bridge.Call(ctx, l, func(ctx context.Context) (int, error) {
				_ = ctx.Done() // links fn's ctx to the caller's
				cb(ctx)
				return 0, nil
			})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := bridge.NewLoop()
			stop := runLoop(t, l)
			release := make(chan struct{})
			got := make(chan error, 1)
			require.NoError(t, tt.run(l, func(ctx context.Context) {
				bridge.Go(ctx, func(ctx context.Context) (string, error) {
					select {
					case <-release:
						return "finished", nil
					case <-ctx.Done():
						return "", ctx.Err()
					}
				}, func(v string, err error) {
					if err == nil && v != "finished" {
						err = errors.New("wrong result " + v)
					}
					got <- err
				})
			}))
			close(release) // the callback has returned: the work is still running
			require.NoError(t, <-got, "the work was cancelled when its callback returned")
			require.NoError(t, stop())
		})
	}
}

//go:noinline
func blowUp() { panic("blown up") }

// Item 9: a panic comes back as the documented *nursery.PanicError itself,
// its stack led by the function that panicked.
func TestPanicComesBackAsAPanicError(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, err error) {
		t.Helper()
		pe, ok := err.(*nursery.PanicError)
		require.Truef(t, ok, "got %T, not *nursery.PanicError", err)
		require.Equal(t, "blown up", pe.Value)
		lines := strings.Split(string(pe.Stack), "\n")
		require.GreaterOrEqual(t, len(lines), 2)
		require.Contains(t, lines[0], "goroutine ")
		require.Contains(t, lines[1], "bridge_test.blowUp", "the panicking function leads:\n%s", pe.Stack)
	}
	t.Run("RunSync", func(t *testing.T) {
		t.Parallel()
		err := onLoop(t, func(ctx context.Context) error {
			_, err := bridge.RunSync(ctx, func(context.Context) (int, error) { blowUp(); return 0, nil })
			return err
		})
		check(t, err)
	})
	t.Run("RunSync from plain code", func(t *testing.T) {
		t.Parallel()
		_, err := bridge.RunSync(context.Background(), func(context.Context) (int, error) { blowUp(); return 0, nil })
		check(t, err)
	})
	t.Run("Loop.Run", func(t *testing.T) {
		t.Parallel()
		l := bridge.NewLoop()
		require.NoError(t, l.Post(func(context.Context) { blowUp() }))
		check(t, l.Run(context.Background()))
	})
	t.Run("Call", func(t *testing.T) {
		t.Parallel()
		l := bridge.NewLoop()
		stop := runLoop(t, l)
		_, err := bridge.Call(context.Background(), l, func(context.Context) (int, error) { blowUp(); return 0, nil })
		check(t, err)
		require.NoError(t, stop())
	})
	t.Run("Go", func(t *testing.T) {
		t.Parallel()
		l := bridge.NewLoop()
		done := make(chan error, 1)
		require.NoError(t, l.Post(func(ctx context.Context) {
			bridge.Go(ctx, func(context.Context) (int, error) { blowUp(); return 0, nil },
				func(_ int, err error) { done <- err; l.Stop() })
		}))
		require.NoError(t, l.Run(context.Background()))
		check(t, <-done)
	})
}

// Item 10: a second loop started by hand from code on a loop is refused,
// as bridge.Run is.
func TestRunningALoopFromALoopIsRefused(t *testing.T) {
	t.Parallel()
	var refused, again error
	err := onLoop(t, func(ctx context.Context) error {
		inner := bridge.NewLoop(bridge.WithName("inner"))
		require.NoError(t, inner.Post(func(context.Context) { inner.Stop() })) // bounded, if it ran
		refused = inner.Run(ctx)
		// Refused, the loop has not run: it can still be run properly.
		_, again = bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
			return 0, inner.Run(bridge.OffLoop(ctx))
		})
		return nil
	})
	require.NoError(t, err)
	require.ErrorIs(t, refused, bridge.ErrLoopRunning)
	require.ErrorContains(t, refused, "use bridge.RunSync")
	require.NoError(t, again)

	l := bridge.NewLoop()
	stop := runLoop(t, l)
	_, err = bridge.Call(context.Background(), l, func(ctx context.Context) (int, error) {
		return 0, bridge.NewLoop().Run(ctx)
	})
	require.ErrorIs(t, err, bridge.ErrLoopRunning, "from a Call's fn too")
	require.NoError(t, stop())
}

// Item 13, the allowed side: Trio's recursive pattern. Work started with
// RunSync calls back onto its loop with Call, and that callback starts
// another RunSync, and so on, under a limiter of one slot; meanwhile the
// loop runs nothing else.
func TestRunSyncWorkCallsBackOntoItsLoopRecursively(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop(bridge.WithName("kernel"))
	stop := runLoop(t, l)
	var order []string // touched only on the loop
	var recurse func(ctx context.Context, depth int) (int, error)
	recurse = func(ctx context.Context, depth int) (int, error) {
		if bridge.Current(ctx) != l {
			return 0, errors.New("the callback is not on the loop")
		}
		if depth == 0 {
			return 0, nil
		}
		return bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
			// A plain post waits until the loop is free again...
			if err := l.Post(func(context.Context) { order = append(order, "post") }); err != nil {
				return 0, err
			}
			// ...while a Call from the work the loop waits for runs now.
			v, err := bridge.Call(ctx, l, func(ctx context.Context) (int, error) {
				order = append(order, "call")
				return recurse(ctx, depth-1)
			})
			return v + 1, err
		})
	}
	ctx := context.Background()
	v, err := bridge.Call(ctx, l, func(ctx context.Context) (int, error) {
		return recurse(bridge.WithLimiter(ctx, bridge.NewLimiter(1)), 5)
	})
	require.NoError(t, err)
	require.Equal(t, 5, v)
	_, err = bridge.Call(ctx, l, func(context.Context) (int, error) { return 0, nil }) // after the posts
	require.NoError(t, err)
	require.Equal(t, []string{"call", "call", "call", "call", "call", "post", "post", "post", "post", "post"}, order)
	require.NoError(t, stop())
}

// askedCtx closes asked when Done is first called: Call asks for it once it
// waits for its turn.
type askedCtx struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func (c *askedCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

// Item 13, the line: work started with Go that calls its loop while the
// loop is in a RunSync that already runs simply waits its turn; only a
// RunSync waiting for the very slot the caller holds is refused (see
// TestRunSyncWaitingForASlotHeldByGoWorkThatCallsBack).
func TestGoWorkCallsALoopBusyInRunSync(t *testing.T) {
	t.Parallel()
	l := bridge.NewLoop()
	var callErr, syncErr error
	var v int
	require.NoError(t, l.Post(func(ctx context.Context) {
		waiting := &askedCtx{asked: make(chan struct{})}
		returned := make(chan struct{})
		bridge.Go(ctx, func(ctx context.Context) (int, error) {
			defer close(returned)
			waiting.Context = ctx
			v, callErr = bridge.Call(waiting, l, func(context.Context) (int, error) { return 7, nil })
			return v, callErr
		}, func(int, error) { l.Stop() })
		_, syncErr = bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
			select { // the Go work's Call is made while this runs
			case <-waiting.asked:
			case <-returned:
			case <-time.After(10 * time.Second):
			}
			return 0, nil
		})
	}))
	require.NoError(t, l.Run(context.Background()))
	require.NoError(t, syncErr)
	require.NoError(t, callErr, "the Call could not deadlock: the RunSync was running")
	require.Equal(t, 7, v)
}

// Item 13, the line drawn exactly: the loop's RunSync waits for a slot of a
// limiter of two, one held by Go work of the loop that calls it back, the
// other by work elsewhere that gives it back once that Call waits. Nothing
// can deadlock, so the Call waits its turn and everything completes.
func TestGoWorkCallsBackWhileTheOtherSlotIsHeldElsewhere(t *testing.T) {
	t.Parallel()
	lim := bridge.NewLimiter(2)
	elsewhere := bridge.NewLoop(bridge.WithName("elsewhere"))
	stopElsewhere := runLoop(t, elsewhere)
	l := bridge.NewLoop(bridge.WithName("ui"))
	syncWaits := &askedCtx{asked: make(chan struct{})} // asked once the RunSync waits for a slot
	callWaits := &askedCtx{asked: make(chan struct{})} // asked once the Call waits for the loop
	workDone := make(chan struct{})

	holding := make(chan struct{})
	_, err := bridge.Call(context.Background(), elsewhere, func(ctx context.Context) (int, error) {
		bridge.Go(bridge.WithLimiter(ctx, lim), func(context.Context) (int, error) {
			close(holding)
			select { // holds one slot until the Call waits
			case <-callWaits.asked:
			case <-workDone:
			case <-time.After(10 * time.Second):
			}
			return 0, nil
		}, func(int, error) {})
		return 0, nil
	})
	require.NoError(t, err)
	<-holding

	var v int
	var callErr, syncErr error
	require.NoError(t, l.Post(func(ctx context.Context) {
		ctx = bridge.WithLimiter(ctx, lim)
		holds := make(chan struct{})
		bridge.Go(ctx, func(ctx context.Context) (int, error) { // takes the second slot
			defer close(workDone)
			close(holds)
			select {
			case <-syncWaits.asked:
			case <-time.After(10 * time.Second):
			}
			callWaits.Context = ctx
			v, callErr = bridge.Call(callWaits, l, func(context.Context) (int, error) { return 7, nil })
			return v, callErr
		}, func(int, error) { l.Stop() })
		<-holds
		syncWaits.Context = ctx
		_, syncErr = bridge.RunSync(syncWaits, func(context.Context) (int, error) { return 1, nil })
	}))
	require.NoError(t, l.Run(context.Background()))
	require.NoError(t, syncErr)
	require.NoError(t, callErr, "the other slot was held by work that was not waiting on the loop")
	require.Equal(t, 7, v)
	require.NoError(t, stopElsewhere())
}

// Item 13, the refused side with more than one slot: every slot of the
// limiter that the loop's RunSync waits for is held by Go work of the loop
// calling it back. Exactly one Call is refused, which frees a slot; the
// RunSync and the other work's Calls then complete.
func TestEverySlotHeldByGoWorkCallingBackRefusesOneCall(t *testing.T) {
	t.Parallel()
	const slots = 2
	lim := bridge.NewLimiter(slots)
	l := bridge.NewLoop(bridge.WithName("ui"))
	var holding sync.WaitGroup
	holding.Add(slots)
	synced := make(chan struct{}) // closed on the loop once the RunSync returned
	errs := make(chan error, slots)
	var syncErr error
	ended := 0 // the works whose then ran
	require.NoError(t, l.Post(func(ctx context.Context) {
		ctx = bridge.WithLimiter(ctx, lim)
		for range slots {
			bridge.Go(ctx, func(ctx context.Context) (int, error) {
				holding.Done()
				for i := 0; ; i++ { // bounded: the RunSync returns, or a Call is refused
					_, err := bridge.Call(ctx, l, func(context.Context) (int, error) { return 0, nil })
					select {
					case <-synced:
					default:
						if err == nil && i < 1e6 {
							continue
						}
					}
					errs <- err
					return 0, err
				}
			}, func(int, error) {
				if ended++; ended == slots { // on the loop
					l.Stop()
				}
			})
		}
		holding.Wait()
		_, syncErr = bridge.RunSync(ctx, func(context.Context) (int, error) { return 1, nil })
		close(synced)
	}))
	require.NoError(t, l.Run(context.Background()))
	require.NoError(t, syncErr)
	refused := 0
	for range slots {
		if err := <-errs; err != nil {
			require.ErrorIs(t, err, bridge.ErrLoopBlocked)
			require.ErrorContains(t, err, "loop ui waits in bridge.RunSync at")
			refused++
		}
	}
	require.Equal(t, 1, refused, "one refusal breaks the deadlock")
}

// fn's ctx in a Call carries the cause the caller cancelled with, however
// fn looks at it, and its Err and Cause agree.
func TestCallersCancelCauseReachesFn(t *testing.T) {
	t.Parallel()
	cause := errors.New("the notebook was closed")
	tests := []struct {
		name string
		fn   func(ctx context.Context, cancel context.CancelCauseFunc) (err, got error)
	}{
		{"waits on Done", func(ctx context.Context, cancel context.CancelCauseFunc) (error, error) {
			done := ctx.Done() // linked before the cancel: it arrives through the link
			cancel(cause)
			<-done
			return ctx.Err(), context.Cause(ctx)
		}},
		{"asks for Done after the cancel", func(ctx context.Context, cancel context.CancelCauseFunc) (error, error) {
			cancel(cause)
			<-ctx.Done()
			return ctx.Err(), context.Cause(ctx)
		}},
		{"never asks for Done: Cause first", func(ctx context.Context, cancel context.CancelCauseFunc) (error, error) {
			cancel(cause)
			got := context.Cause(ctx)
			return ctx.Err(), got
		}},
		{"never asks for Done: Err first", func(ctx context.Context, cancel context.CancelCauseFunc) (error, error) {
			cancel(cause)
			err := ctx.Err()
			return err, context.Cause(ctx)
		}},
		{"derives a context", func(ctx context.Context, cancel context.CancelCauseFunc) (error, error) {
			child, stop := context.WithCancel(ctx)
			defer stop()
			cancel(cause)
			<-child.Done()
			return child.Err(), context.Cause(child)
		}},
	}
	l := bridge.NewLoop()
	stop := runLoop(t, l)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			seen := make(chan [2]error, 1) // Call may return before fn does: the cancel ends its wait
			_, _ = bridge.Call(ctx, l, func(ctx context.Context) (int, error) {
				err, got := tt.fn(ctx, cancel)
				seen <- [2]error{err, got}
				return 0, nil
			})
			got := <-seen
			require.ErrorIs(t, got[0], context.Canceled)
			require.Equal(t, cause, got[1])
		})
	}
	t.Run("Go's then", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		then := make(chan error, 1)
		_, _ = bridge.Call(ctx, l, func(ctx context.Context) (int, error) {
			bridge.Go(ctx, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, ctx.Err()
			}, func(_ int, err error) { then <- err })
			cancel(cause)
			<-ctx.Done()
			return 0, nil
		})
		require.Equal(t, cause, <-then)
	})
	require.NoError(t, stop())
}
