package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/nursery"
)

var (
	errA    = errors.New("a failed")
	errB    = errors.New("b failed")
	errBody = errors.New("body failed")
)

func TestBodyErrorNoChildren(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		return errBody
	})
	require.Equal(t, errBody, err, "a single failure comes back unwrapped")
	require.Equal(t, []error{errBody}, nursery.Errors(err))
}

func TestNoErrors(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return nil })
		return nil
	})
	require.NoError(t, err)
	require.Nil(t, nursery.Errors(err))
}

func TestChildFailureCancelsSibling(t *testing.T) {
	t.Parallel()
	var siblingCause error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			siblingCause = context.Cause(ctx)
			return ctx.Err()
		})
		n.Go(func(ctx context.Context) error { return errA })
		return nil
	})
	require.Equal(t, errA, err, "only the failing child's error comes back")
	require.ErrorIs(t, siblingCause, errA, "the sibling sees the failure as the cause")
}

func TestTwoChildrenFail(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errA })
		n.Go(func(ctx context.Context) error {
			<-ctx.Done() // fail after the sibling, with a genuine error of its own
			return fmt.Errorf("cleanup: %w", errB)
		})
		return nil
	})
	require.ErrorIs(t, err, errA)
	require.ErrorIs(t, err, errB)
	leaves := nursery.Errors(err)
	require.Len(t, leaves, 2)
	require.Equal(t, errA, leaves[0])
	require.Equal(t, "a failed\ncleanup: b failed", err.Error(), "one error a line")
}

func TestBodyAndChildFail(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errA })
		<-ctx.Done()
		return errBody
	})
	require.ErrorIs(t, err, errA)
	require.ErrorIs(t, err, errBody)
	require.Len(t, nursery.Errors(err), 2)
}

func TestChildFailureWakesBody(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errA })
		<-ctx.Done() // blocked until the child fails
		return ctx.Err()
	})
	require.Equal(t, errA, err, "the body's cancellation is the nursery's own and is dropped")
}

func TestBodyReturnsWhileChildRuns(t *testing.T) {
	t.Parallel()
	const nap = 200 * time.Millisecond
	var finished atomic.Bool
	start := time.Now()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			select {
			case <-time.After(nap):
				finished.Store(true)
				return nil
			case <-ctx.Done():
				return errors.New("child was cancelled: the body's return must not cancel it")
			}
		})
		return nil
	})
	require.NoError(t, err)
	require.True(t, finished.Load())
	require.GreaterOrEqual(t, time.Since(start), nap)
}

func TestCancelReachesGrandchildren(t *testing.T) {
	t.Parallel()
	errStop := errors.New("stop requested")
	const grandchildren = 3
	causes := make(chan error, grandchildren)
	var ready sync.WaitGroup
	ready.Add(grandchildren)
	err := nursery.Run(context.Background(), func(ctx context.Context, outer *nursery.Nursery) error {
		outer.Go(func(ctx context.Context) error {
			return nursery.Run(ctx, func(ctx context.Context, inner *nursery.Nursery) error {
				for range grandchildren {
					inner.Go(func(ctx context.Context) error {
						ready.Done()
						<-ctx.Done()
						causes <- context.Cause(ctx)
						return ctx.Err()
					})
				}
				return nil
			})
		})
		ready.Wait()
		outer.Cancel(errStop)
		return nil
	})
	require.NoError(t, err, "Cancel is a clean stop")
	close(causes)
	for cause := range causes {
		require.ErrorIs(t, cause, errStop)
	}
}

func TestParentCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var childSaw error
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			childSaw = ctx.Err()
			return ctx.Err()
		})
		cancel()
		return nil
	})
	require.ErrorIs(t, childSaw, context.Canceled)
	require.Equal(t, context.Canceled, err, "an outside cancel is reported as ctx.Err()")
}

func TestParentDeadlinePlusGenuineFailure(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err() // dropped: the echo of the deadline
		})
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			return errA // genuine: kept
		})
		return nil
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, errA)
	require.Len(t, nursery.Errors(err), 2)
}

func TestCancelWithoutCauseIsClean(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			return context.Cause(ctx) // the cause echo is dropped too
		})
		n.Cancel(nil)
		<-ctx.Done()
		require.Equal(t, context.Canceled, context.Cause(ctx))
		return ctx.Err()
	})
	require.NoError(t, err)
}

func TestFailureAfterCancelIsReported(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			return errA
		})
		n.Cancel(errors.New("shutting down"))
		return nil
	})
	require.Equal(t, errA, err)
}

func TestGoAfterRunReturnedPanics(t *testing.T) {
	t.Parallel()
	var saved *nursery.Nursery
	require.NoError(t, nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		saved = n
		return nil
	}))
	require.PanicsWithValue(t, "nursery: Go called on a closed nursery (its Run has returned)", func() {
		saved.Go(func(ctx context.Context) error { return nil })
	})
	require.PanicsWithValue(t, "nursery: Start called on a closed nursery (its Run has returned)", func() {
		_, _ = nursery.Start(saved, func(ctx context.Context, started func(int)) error { return nil })
	})
	require.NotPanics(t, func() { saved.Cancel(nil) }, "Cancel after Run is harmless")
}

func TestMisusePanics(t *testing.T) {
	t.Parallel()
	noop := func(ctx context.Context) error { return nil }
	var nilNursery *nursery.Nursery
	var nilCtx context.Context
	cases := []struct {
		name string
		want string
		fn   func()
	}{
		{"nil ctx", "nursery: Run called with a nil context", func() {
			_ = nursery.Run(nilCtx, func(context.Context, *nursery.Nursery) error { return nil })
		}},
		{"nil body", "nursery: Run called with a nil body", func() {
			_ = nursery.Run(context.Background(), nil)
		}},
		{"nil nursery Go", "nursery: Go called on a nil *Nursery", func() { nilNursery.Go(noop) }},
		{"nil nursery Cancel", "nursery: Cancel called on a nil *Nursery", func() { nilNursery.Cancel(nil) }},
		{"nil nursery Start", "nursery: Start called on a nil *Nursery", func() {
			_, _ = nursery.Start(nilNursery, func(context.Context, func(int)) error { return nil })
		}},
		{"nil Start fn", "nursery: Start called with a nil fn", func() {
			_, _ = nursery.Start[int](nilNursery, nil)
		}},
		{"nil MoveOnAfter fn", "nursery: MoveOnAt called with a nil fn", func() {
			_, _ = nursery.MoveOnAfter(context.Background(), time.Second, nil)
		}},
		{"nil FailAfter fn", "nursery: FailAt called with a nil fn", func() {
			_ = nursery.FailAfter(context.Background(), time.Second, nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tc.want, tc.fn)
		})
	}

	t.Run("nil fn inside the body", func(t *testing.T) {
		t.Parallel()
		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			n.Go(nil)
			return nil
		})
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe, "the body's panic is caught like any other")
		require.Equal(t, "nursery: Go called with a nil fn", pe.Value)
	})
}

func TestChildStartsGrandchildWhileRunWaits(t *testing.T) {
	t.Parallel()
	var ranA, ranB atomic.Bool
	bodyReturned := make(chan struct{})
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-bodyReturned // Run is now waiting at its exit
			n.Go(func(ctx context.Context) error {
				ranB.Store(true)
				return nil
			})
			ranA.Store(true)
			return nil
		})
		close(bodyReturned)
		return nil
	})
	require.NoError(t, err)
	require.True(t, ranA.Load())
	require.True(t, ranB.Load())
}

//go:noinline
func panickingChild(context.Context) error {
	panic("child blew up")
}

func TestChildPanics(t *testing.T) {
	t.Parallel()
	var siblingCause error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			siblingCause = context.Cause(ctx)
			return ctx.Err()
		})
		n.Go(panickingChild)
		return nil
	})
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "child blew up", pe.Value)
	require.Contains(t, string(pe.Stack), "nursery_test.panickingChild")
	require.Contains(t, err.Error(), "nursery: panic: child blew up")
	require.ErrorAs(t, siblingCause, &pe, "the sibling was cancelled by the panic")
}

func TestBodyPanicsWithError(t *testing.T) {
	t.Parallel()
	var childCancelled atomic.Bool
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			childCancelled.Store(true)
			return nil
		})
		panic(errA)
	})
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, errA, "a panic(err) unwraps to err")
	require.True(t, childCancelled.Load())
}

// A child's panic(nil) is a panic, not a Goexit: Go's one deferred recover
// gets the runtime's *runtime.PanicNilError (Go 1.21 and later), which the
// *PanicError unwraps to. The same in Start's child.
func TestChildPanicNil(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { panic(nil) })
		return nil
	})
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	var pn *runtime.PanicNilError
	require.ErrorAs(t, err, &pn)
	require.NotContains(t, err.Error(), "Goexit")

	err = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := nursery.Start(n, func(ctx context.Context, started func(int)) error { panic(nil) })
		return err
	})
	require.ErrorAs(t, err, &pe)
	require.ErrorAs(t, err, &pn)
}

func TestChildGoexit(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			runtime.Goexit() // what t.FailNow does in a child goroutine
			return nil
		})
		return nil
	})
	require.ErrorContains(t, err, "runtime.Goexit")
}

func TestBodyGoexitJoinsChildren(t *testing.T) {
	t.Parallel()
	childDone := make(chan error, 1)
	runReturned := make(chan struct{})
	go func() {
		defer close(runReturned)
		_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				childDone <- context.Cause(ctx)
				return nil
			})
			runtime.Goexit()
			return nil
		})
		t.Error("Run returned although its goroutine called Goexit")
	}()
	<-runReturned
	select {
	case cause := <-childDone:
		require.ErrorContains(t, cause, "runtime.Goexit", "the child was cancelled and joined first")
	default:
		t.Fatal("the goroutine exited before its nursery's child finished")
	}
}

func TestErrorsFlattensNestedNurseries(t *testing.T) {
	t.Parallel()
	errC := errors.New("c failed")
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			return nursery.Run(context.Background(), func(ctx context.Context, inner *nursery.Nursery) error {
				inner.Go(func(ctx context.Context) error { return errA })
				<-ctx.Done()
				return errB
			})
		})
		<-ctx.Done()
		return errC
	})
	require.ElementsMatch(t, []error{errA, errB, errC}, nursery.Errors(err))
	for _, target := range []error{errA, errB, errC} {
		require.ErrorIs(t, err, target)
	}
	wrapped := fmt.Errorf("stage 2: %w", err)
	require.Len(t, nursery.Errors(wrapped), 1, "a wrapped group is one failure")
	require.Equal(t, 3, strings.Count(err.Error(), "\n")+1, "one line per leaf")
}

func TestTenThousandChildren(t *testing.T) {
	t.Parallel()
	const children = 10_000
	var ran atomic.Int64
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		for range children {
			n.Go(func(ctx context.Context) error {
				ran.Add(1)
				return nil
			})
		}
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, children, ran.Load())
}

func TestCancelReachesHundredNestedNurseries(t *testing.T) {
	t.Parallel()
	const depth = 100
	errTop := errors.New("top cancelled")
	ready := make(chan struct{})
	bottomCause := make(chan error, 1)
	var nest func(ctx context.Context, level int) error
	nest = func(ctx context.Context, level int) error {
		return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			if level == depth {
				close(ready)
				<-ctx.Done()
				bottomCause <- context.Cause(ctx)
				return ctx.Err()
			}
			n.Go(func(ctx context.Context) error { return nest(ctx, level+1) })
			return nil
		})
	}
	err := nursery.Run(context.Background(), func(ctx context.Context, top *nursery.Nursery) error {
		top.Go(func(ctx context.Context) error { return nest(ctx, 2) })
		<-ready
		top.Cancel(errTop)
		return nil
	})
	require.NoError(t, err)
	require.ErrorIs(t, <-bottomCause, errTop)
}

func TestConcurrentGo(t *testing.T) {
	t.Parallel()
	const spawners, each = 32, 200
	var ran atomic.Int64
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		// Plain goroutines, children and the body all start children at once.
		var wg sync.WaitGroup
		for range spawners {
			wg.Go(func() {
				for range each {
					n.Go(func(ctx context.Context) error {
						ran.Add(1)
						return nil
					})
				}
			})
			n.Go(func(ctx context.Context) error {
				for range each {
					n.Go(func(ctx context.Context) error {
						ran.Add(1)
						return nil
					})
				}
				return nil
			})
		}
		wg.Wait()
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 2*spawners*each, ran.Load())
}

// TestGenuineLeavesSurviveCancelEchoes nests nurseries under one that fails,
// and at every level returns a genuine error joined with the cancellation
// it saw: only the echoes may be dropped, every genuine leaf reaches the top.
func TestGenuineLeavesSurviveCancelEchoes(t *testing.T) {
	t.Parallel()
	for depth := 1; depth <= 3; depth++ {
		t.Run(fmt.Sprintf("depth %d", depth), func(t *testing.T) {
			t.Parallel()
			errTop := errors.New("top child failed")
			ready := make(chan struct{})
			var want []error
			var nest func(ctx context.Context, level int) error
			nest = func(ctx context.Context, level int) error {
				errLevel := fmt.Errorf("level %d body failed", level)
				errLeaf := fmt.Errorf("level %d child failed", level)
				want = append(want, errLevel)
				if level == depth {
					want = append(want, errLeaf)
				}
				return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
					if level == depth {
						n.Go(func(ctx context.Context) error {
							<-ctx.Done()
							return errors.Join(errLeaf, ctx.Err())
						})
						close(ready)
					} else {
						n.Go(func(ctx context.Context) error { return nest(ctx, level+1) })
					}
					<-ctx.Done()
					return errors.Join(errLevel, ctx.Err())
				})
			}
			want = append(want, errTop)
			err := nursery.Run(context.Background(), func(ctx context.Context, top *nursery.Nursery) error {
				top.Go(func(ctx context.Context) error { return nest(ctx, 1) })
				<-ready
				return errTop
			})
			require.ElementsMatch(t, want, nursery.Errors(err), "every genuine leaf, no echo: %v", err)
			require.NotErrorIs(t, err, context.Canceled, "the echoes are dropped")
		})
	}
}

func TestBodyDone(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	seen := make(chan bool, 2)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-n.BodyDone() // closed although this child still runs
			seen <- true
			close(release)
			return nil
		})
		select {
		case <-n.BodyDone():
			seen <- false
		default:
		}
		n.Go(func(ctx context.Context) error {
			<-release
			<-n.BodyDone() // asked for after the body returned: already closed
			return nil
		})
		return nil
	})
	require.NoError(t, err)
	close(seen)
	var got []bool
	for v := range seen {
		got = append(got, v)
	}
	require.Equal(t, []bool{true}, got, "closed once the body returned, not before")
}

// TestSameFailureKeptOnce: one error value that two tasks return is one
// failure; distinct errors, even with the same text, are each kept.
func TestSameFailureKeptOnce(t *testing.T) {
	t.Parallel()
	same := errors.New("one failure")
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return same })
		return same
	})
	require.Equal(t, same, err, "kept once, unwrapped")

	for _, wrapperFirst := range []bool{false, true} {
		wrapped := fmt.Errorf("call: %w", same)
		err = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			first, second := error(same), error(wrapped)
			if wrapperFirst {
				first, second = second, first
			}
			ready := make(chan struct{})
			n.Go(func(ctx context.Context) error { defer close(ready); return first })
			<-ready
			return second
		})
		require.Equal(t, wrapped, err, "kept once, in the wrapper's words (wrapper first: %v)", wrapperFirst)
	}

	a, b := errors.New("boom"), errors.New("boom")
	err = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return a })
		return b
	})
	require.ElementsMatch(t, []error{a, b}, nursery.Errors(err))
}
