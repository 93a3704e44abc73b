package actor_test

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// The functions of the lifecycle tests: calls in flight across stops and
// deaths.

// lingerArgs names a set of calls (so that tests sharing a process on the
// goroutine backend count theirs alone) and how long each takes to finish
// once its ctx is cancelled.
type lingerArgs struct {
	Key    string
	Linger time.Duration
}

// lingerCounts counts, per key, the calls of linger that have started.
var lingerCounts sync.Map // string -> *atomic.Int64

func lingerCount(key string) *atomic.Int64 {
	c, _ := lingerCounts.LoadOrStore(key, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// resultWithFunc is a result msgpack cannot encode.
type resultWithFunc struct {
	Name string
	F    func()
}

var (
	// linger runs until its ctx is cancelled, takes its time to wind down,
	// and then returns its own answer.
	linger = actor.Func("lifecycle.linger", func(ctx context.Context, a lingerArgs) (string, error) {
		lingerCount(a.Key).Add(1)
		<-ctx.Done()
		<-time.After(a.Linger) // the function's own cleanup
		return "finished " + a.Key, nil
	})

	// lingerStarted reports how many calls of linger with the key started.
	lingerStarted = actor.Func("lifecycle.lingerStarted", func(ctx context.Context, key string) (int64, error) {
		return lingerCount(key).Load(), nil
	})

	badResult = actor.Func("lifecycle.badResult", func(ctx context.Context, _ struct{}) (resultWithFunc, error) {
		return resultWithFunc{Name: "x", F: func() {}}, nil
	})

	goexit = actor.Func("lifecycle.goexit", func(ctx context.Context, _ struct{}) (int, error) {
		runtime.Goexit()
		return 0, nil
	})

	resultEncoderPanics = actor.Func("lifecycle.resultEncoderPanics", func(ctx context.Context, _ struct{}) (encoderPanics, error) {
		return encoderPanics{}, nil
	})

	// itemEncoderPanics yields 100 items whose own encoder panics, more
	// than out buffers, without looking at its ctx: it must not be left
	// blocked on out.
	itemEncoderPanics = actor.StreamFunc("lifecycle.itemEncoderPanics", func(ctx context.Context, _ struct{}, out chan<- encoderPanics) error {
		for range 100 {
			out <- encoderPanics{}
		}
		return nil
	})

	goexitStream = actor.StreamFunc("lifecycle.goexitStream", func(ctx context.Context, _ struct{}, out chan<- int) error {
		out <- 1
		runtime.Goexit()
		return nil
	})
)

// encoderPanics is a result whose own encoder panics.
type encoderPanics struct{}

func (encoderPanics) EncodeMsgpack(*msgpack.Encoder) error { panic("the result's encoder panicked") }

func (*encoderPanics) DecodeMsgpack(d *msgpack.Decoder) error { return d.Skip() }

// waitStarted waits until n calls of linger with key run in ref, asking
// the actor (it may be another process), bounded by a deadline.
func waitStarted(ctx context.Context, t *testing.T, ref *actor.Ref, key string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := lingerStarted.Call(ctx, ref, key)
		require.NoError(t, err)
		if got == n {
			return
		}
		require.True(t, time.Now().Before(deadline), "only %d of %d calls started", got, n)
	}
}

// TestEveryCallGetsAnAnswer: a function whose call cannot end normally
// still answers its caller at once, with a RemoteError that says why, and
// the actor serves on.
func TestEveryCallGetsAnAnswer(t *testing.T) {
	proctest.NoChildrenLeft(t)
	cases := []struct {
		name string
		call func(ctx context.Context, ref *actor.Ref) error
		says []string
	}{
		{"unencodable result", func(ctx context.Context, ref *actor.Ref) error {
			_, err := badResult.Call(ctx, ref, struct{}{})
			return err
		}, []string{"lifecycle.badResult", "actor_test.resultWithFunc"}},
		{"runtime.Goexit", func(ctx context.Context, ref *actor.Ref) error {
			_, err := goexit.Call(ctx, ref, struct{}{})
			return err
		}, []string{"lifecycle.goexit", "runtime.Goexit"}},
		{"a result whose encoder panics", func(ctx context.Context, ref *actor.Ref) error {
			_, err := resultEncoderPanics.Call(ctx, ref, struct{}{})
			return err
		}, []string{"panic: the result's encoder panicked"}},
		{"a stream item whose encoder panics", func(ctx context.Context, ref *actor.Ref) error {
			st, err := itemEncoderPanics.Open(ctx, ref, struct{}{})
			if err != nil {
				return err
			}
			for range st.C {
			}
			return st.Err()
		}, []string{"panic: the result's encoder panicked"}},
		{"runtime.Goexit in a stream function", func(ctx context.Context, ref *actor.Ref) error {
			st, err := goexitStream.Open(ctx, ref, struct{}{})
			if err != nil {
				return err
			}
			for range st.C {
			}
			return st.Err()
		}, []string{"lifecycle.goexitStream", "runtime.Goexit"}},
	}
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				err := tc.call(cctx, ref)
				require.NotErrorIs(t, err, context.DeadlineExceeded, "the caller got an answer")
				var re *actor.RemoteError
				require.ErrorAs(t, err, &re)
				for _, s := range tc.says {
					require.ErrorContains(t, err, s)
				}
				got, err := square.Call(ctx, ref, 3)
				require.NoError(t, err, "the actor serves on")
				require.Equal(t, 9, got)
			})
		}
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

// TestStopLetsCallsFinish: the stop message cancels the calls in flight
// and lets them answer; every caller gets the function's own return.
func TestStopLetsCallsFinish(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const calls = 20
	stops := []struct {
		name string
		stop func(n *nursery.Nursery, ref *actor.Ref)
	}{
		{"Ref.Cancel", func(_ *nursery.Nursery, ref *actor.Ref) { ref.Cancel() }},
		{"nursery cancel", func(n *nursery.Nursery, _ *actor.Ref) { n.Cancel(nil) }},
	}
	for _, tc := range stops {
		t.Run(tc.name, func(t *testing.T) {
			var key string // the actor's id: unique, also among the actors of this process
			results := make([]string, calls)
			errs := make([]error, calls)
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				ref, err := actor.Spawn(ctx, n, "worker")
				if err != nil {
					return err
				}
				key = ref.ID()
				var wg sync.WaitGroup
				for i := range calls {
					// The callers' ctx outlives the nursery's cancel: they
					// wait for the answers.
					wg.Go(func() {
						results[i], errs[i] = linger.Call(context.Background(), ref, lingerArgs{Key: key, Linger: 20 * time.Millisecond})
					})
				}
				waitStarted(ctx, t, ref, key, calls)
				tc.stop(n, ref)
				wg.Wait()
				return nil
			})
			require.NoError(t, err)
			for i := range calls {
				require.NoError(t, errs[i], "call %d", i)
				require.Equal(t, "finished "+key, results[i])
			}
		})
	}
}

// TestCallCutByStop: a call that outlasts the grace period, and any call
// made once the stop has begun, fails with ErrStopped.
func TestCallCutByStop(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var ref *actor.Ref
	var cutErr, duringErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		var err error
		ref, err = actor.Spawn(ctx, n, "worker", actor.WithGrace(100*time.Millisecond), actor.WithKillDelay(200*time.Millisecond))
		if err != nil {
			return err
		}
		cut := make(chan struct{})
		go func() {
			defer close(cut)
			_, cutErr = linger.Call(context.Background(), ref, lingerArgs{Key: ref.ID(), Linger: 700 * time.Millisecond})
		}()
		waitStarted(ctx, t, ref, ref.ID(), 1)
		ref.Cancel()
		// Calls from now on fail, once the stop message is through; none
		// waits.
		deadline := time.Now().Add(5 * time.Second)
		for duringErr == nil && time.Now().Before(deadline) {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, duringErr = square.Call(cctx, ref, 2)
			cancel()
		}
		<-cut
		return nil
	})
	require.NoError(t, err)
	require.ErrorIs(t, cutErr, actor.ErrStopped, "the call cut by the stop says so")
	require.ErrorIs(t, duringErr, actor.ErrStopped, "a call during the stop says so")
	_, err = square.Call(context.Background(), ref, 3)
	require.ErrorIs(t, err, actor.ErrStopped, "a call after the stop says so")
	require.ErrorContains(t, err, "test.square")
}

func TestExitZeroIsADeath(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit code")
	proctest.NoChildrenLeft(t)
	var callErr, laterErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "doomed", actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		_, callErr = exit.Call(ctx, ref, 0)
		_, laterErr = square.Call(context.Background(), ref, 2)
		return nil
	})
	for _, e := range []error{callErr, laterErr, err} {
		var ee *actor.ExitError
		require.ErrorAs(t, e, &ee)
		require.Equal(t, 0, ee.Code)
	}
}

func TestSIGTERMFromOutsideIsADeath(t *testing.T) {
	proctest.NeedsProcesses(t, "a signal from outside")
	proctest.NoChildrenLeft(t)
	var callErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "victim")
		if err != nil {
			return err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, callErr = waitKill.Call(context.Background(), ref, struct{}{}) // ignores its ctx
		}()
		p, err := os.FindProcess(ref.PID())
		require.NoError(t, err)
		_, err = square.Call(ctx, ref, 1) // the actor is serving
		require.NoError(t, err)
		require.NoError(t, p.Signal(syscall.SIGTERM))
		<-done
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, callErr, &ee, "the call in flight")
	require.ErrorAs(t, err, &ee, "the task")
}

// TestStopCutsACallOnTheWayToAGrandchild: the stop of an actor whose call
// waits on its own child reaches its caller as ErrStopped, across both
// hops.
func TestStopCutsACallOnTheWayToAGrandchild(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var callErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "child")
		if err != nil {
			return err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, callErr = middle.Call(context.Background(), ref, "block")
		}()
		_, err = square.Call(ctx, ref, 1)
		require.NoError(t, err)
		ref.Cancel()
		<-done
		return nil
	})
	require.NoError(t, err)
	require.ErrorIs(t, callErr, actor.ErrStopped)
}
