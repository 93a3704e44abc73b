package actor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// The tests of how an actor's end reaches its task and its calls: every
// report of one end agrees.

// releases holds, per key, a channel that obstinate waits on: it lets a
// test on the goroutine backend (where the function runs in this process)
// end a function that ignores its ctx once the test is over.
var releases sync.Map // string -> chan struct{}

func release(key string) chan struct{} {
	c, _ := releases.LoadOrStore(key, make(chan struct{}))
	return c.(chan struct{})
}

var (
	// blockFor notes that it started (lingerStarted counts it under key),
	// then returns ctx.Err() once its ctx is cancelled.
	blockFor = actor.Func("end.block", func(ctx context.Context, key string) (string, error) {
		lingerCount(key).Add(1)
		<-ctx.Done()
		return "", ctx.Err()
	})

	// obstinate notes that it started and ignores its ctx until the test
	// releases it.
	obstinate = actor.Func("end.obstinate", func(ctx context.Context, key string) (string, error) {
		lingerCount(key).Add(1)
		<-release(key)
		return "released", nil
	})
)

// endOf runs an actor, makes a call of fn on it in flight, does act to
// the actor, and returns the call's error and the task's.
func endOf(t *testing.T, fn *actor.Function[string, string], act func(ref *actor.Ref), opts ...actor.Option) (callErr, taskErr error) {
	t.Helper()
	taskErr = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "actor", opts...)
		if err != nil {
			return err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, callErr = fn.Call(context.Background(), ref, ref.ID())
		}()
		waitStarted(ctx, t, ref, ref.ID(), 1)
		act(ref)
		<-done
		return nil
	})
	return callErr, taskErr
}

// TestKillCutsACall: Kill's promise to a call in flight, on both backends:
// its ExitError on the process backend, ErrStopped on goroutines; the
// task ends without an error.
func TestKillCutsACall(t *testing.T) {
	proctest.NoChildrenLeft(t)
	for _, b := range []actor.Backend{actor.BackendProcess, actor.BackendGoroutine} {
		t.Run(string(b), func(t *testing.T) {
			if b == actor.BackendProcess {
				proctest.NeedsProcesses(t, "a process to kill")
			}
			callErr, err := endOf(t, blockFor, func(ref *actor.Ref) { ref.Kill() },
				actor.WithBackend(b), actor.WithStrictBackend())
			require.NoError(t, err, "the task of a killed actor")
			if b == actor.BackendGoroutine {
				require.ErrorIs(t, callErr, actor.ErrStopped)
				require.NotErrorIs(t, callErr, actor.ErrNotStarted)
				return
			}
			var ee *actor.ExitError
			require.ErrorAs(t, callErr, &ee)
		})
	}
}

// TestKillAfterAStopChangesNothing: an actor's end is decided once; a Kill
// after its stop has finished does not turn it into a death.
func TestKillAfterAStopChangesNothing(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var ref *actor.Ref
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		var err error
		ref, err = actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
	_, before := square.Call(context.Background(), ref, 2)
	require.ErrorIs(t, before, actor.ErrStopped)
	ref.Kill()
	_, after := square.Call(context.Background(), ref, 2)
	require.ErrorIs(t, after, actor.ErrStopped, "still stopped after the Kill")
	require.NotErrorIs(t, after, actor.ErrNotStarted, "a stopped actor did not die")
	var ee *actor.ExitError
	require.NotErrorAs(t, after, &ee)
}

// TestAStopWaitsTheKillDelayOnce: on the goroutine backend, where a call
// that ignores its ctx is abandoned after the kill delay, a stop waits for
// the kill delay once (not once per step of the ladder), and so does a
// Kill during a stop.
func TestAStopWaitsTheKillDelayOnce(t *testing.T) {
	const killDelay = 2 * time.Second
	cases := []struct {
		name  string
		grace time.Duration
		kill  bool
	}{
		{"a stop", 100 * time.Millisecond, false},
		{"Kill during a stop", 10 * time.Second, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cancelled time.Time
			called := make(chan struct{})
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				ref, err := actor.Spawn(ctx, n, "obstinate", actor.WithBackend(actor.BackendGoroutine),
					actor.WithGrace(tc.grace), actor.WithKillDelay(killDelay))
				if err != nil {
					return err
				}
				key := ref.ID()
				t.Cleanup(func() {
					c := release(key)
					releases.Delete(key)
					close(c)
				})
				go func() {
					defer close(called)
					_, _ = obstinate.Call(context.Background(), ref, key)
				}()
				waitStarted(ctx, t, ref, key, 1)
				ref.Cancel()
				cancelled = time.Now()
				if tc.kill {
					ref.Kill()
				}
				return nil
			})
			require.NoError(t, err)
			took := time.Since(cancelled)
			<-called
			bound := killDelay + killDelay/2
			if !tc.kill {
				bound += tc.grace
			}
			require.Less(t, took, bound, "the task waited for the kill delay more than once")
		})
	}
}
