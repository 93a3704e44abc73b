package actor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// Tests that spawn processes do not run in parallel, so that each can check
// that it left no child process behind.

func TestSpawnCallReap(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var childPID int
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		require.Equal(t, "worker", ref.Name())
		require.NotEmpty(t, ref.ID())
		childPID = ref.PID()
		got, err := square.Call(ctx, ref, 12)
		require.NoError(t, err)
		require.Equal(t, 144, got)
		p, err := pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		require.Equal(t, ref.PID(), p, "the call ran in the actor")
		sum, err := addPoints.Call(ctx, ref, point{3, 4})
		require.NoError(t, err)
		require.Equal(t, 7, sum)
		n.Cancel(nil) // done: stop the actor
		return nil
	})
	require.NoError(t, err)
	if proctest.ProcessBackend() {
		require.False(t, proctest.Alive(childPID), "the actor was reaped when its nursery ended")
	}
}

func TestRemoteError(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		_, err = fail.Call(ctx, ref, "upload")
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "*fmt.wrapError", re.Type)
		require.Equal(t, "upload: quota exceeded", re.Message)
		require.Equal(t, ref.PID(), re.Source.PID)
		require.Equal(t, "worker", re.Source.Name)
		require.ErrorIs(t, err, errQuota, "a registered sentinel matches across the boundary")
		require.Contains(t, err.Error(), "actor worker[")
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestRemotePanic(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		_, err = panicky.Call(ctx, ref, struct{}{})
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		require.True(t, re.Panicked())
		require.Contains(t, re.Message, "assignment to entry in nil map")
		require.Contains(t, re.Stack, "actor_test.explode", "the remote stack names the function")
		require.True(t, strings.HasPrefix(re.Stack, "goroutine "), re.Stack)
		require.NotContains(t, re.Stack, "NewRecovered", "the recovery machinery is trimmed")
		got, err := square.Call(ctx, ref, 3)
		require.NoError(t, err, "the actor lives on")
		require.Equal(t, 9, got)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestChildExitsDuringACall(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit code")
	proctest.NoChildrenLeft(t)
	var siblingPID int
	var callErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		sibling, err := actor.Spawn(ctx, n, "sibling")
		if err != nil {
			return err
		}
		siblingPID = sibling.PID()
		ref, err := actor.Spawn(ctx, n, "doomed")
		if err != nil {
			return err
		}
		_, callErr = exit.Call(ctx, ref, 3)
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, callErr, &ee)
	require.Equal(t, 3, ee.Code)
	require.Contains(t, ee.Stderr, "about to exit with 3")
	require.ErrorAs(t, err, &ee, "the nursery sees the death")
	require.False(t, proctest.Alive(siblingPID), "the sibling was cancelled and reaped")
}

func TestChildKilledFromOutside(t *testing.T) {
	proctest.NeedsProcesses(t, "a signal from outside")
	proctest.NoChildrenLeft(t)
	var callErr error
	var took time.Duration
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "victim")
		if err != nil {
			return err
		}
		n.Go(func(ctx context.Context) error {
			// Kill it once the call is under way.
			_, _ = square.Call(ctx, ref, 1)
			return sigkill(ref.PID())
		})
		start := time.Now()
		_, callErr = waitKill.Call(ctx, ref, struct{}{})
		took = time.Since(start)
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, callErr, &ee)
	require.Equal(t, syscall.SIGKILL, ee.Signal)
	require.Contains(t, ee.Error(), "SIGKILL")
	require.Less(t, took, 5*time.Second)
}

func TestChildCrashesInAGoroutine(t *testing.T) {
	proctest.NeedsProcesses(t, "a crash of the actor alone")
	proctest.NoChildrenLeft(t)
	var callErr error
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "crasher", actor.WithOutput(&bytes.Buffer{}))
		if err != nil {
			return err
		}
		_, callErr = crash.Call(ctx, ref, struct{}{})
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, callErr, &ee)
	require.Equal(t, 2, ee.Code, "a Go panic exits with code 2")
	require.Contains(t, ee.Stderr, "nil pointer dereference")
}

func TestCallerCancels(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		before, err := cancelledBlocks.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = block.Call(cctx, ref, struct{}{})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 2*time.Second, "the caller returns promptly")
		// The remote function's ctx was cancelled too (it runs in another
		// process: ask it, until it has seen the cancel).
		deadline := time.Now().Add(2 * time.Second)
		for {
			seen, err := cancelledBlocks.Call(ctx, ref, struct{}{})
			require.NoError(t, err)
			if seen == before+1 {
				break
			}
			require.True(t, time.Now().Before(deadline), "the remote ctx was never cancelled")
		}
		got, err := square.Call(ctx, ref, 5)
		require.NoError(t, err, "the actor serves on after the cancelled call")
		require.Equal(t, 25, got)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestCancelEscalates(t *testing.T) {
	proctest.NeedsProcesses(t, "SIGTERM and SIGKILL")
	proctest.NoChildrenLeft(t)
	for _, ignoreTerm := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoreSIGTERM=%t", ignoreTerm), func(t *testing.T) {
			const grace, killDelay = 200 * time.Millisecond, 200 * time.Millisecond
			start := time.Now()
			var took time.Duration
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				ref, err := actor.Spawn(ctx, n, "headstrong", actor.WithGrace(grace), actor.WithKillDelay(killDelay))
				if err != nil {
					return err
				}
				s, err := square.Call(ctx, ref, 2) // the actor is up
				require.NoError(t, err)
				require.Equal(t, 4, s)
				st, err := headstrong.Open(ctx, ref, ignoreTerm)
				if err != nil {
					return err
				}
				<-st.C // it runs, and ignores its ctx from now on
				start = time.Now()
				n.Cancel(nil)
				return nil
			})
			took = time.Since(start)
			require.NoError(t, err)
			require.GreaterOrEqual(t, took, grace, "SIGTERM only after the grace period")
			if ignoreTerm {
				require.GreaterOrEqual(t, took, grace+killDelay, "SIGKILL only after the kill delay")
			}
			require.Less(t, took, grace+killDelay+3*time.Second)
		})
	}
}

func TestCrashWhileStoppingIsReported(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit code")
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "fragile", actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		s, err := exitOnCancel.Open(ctx, ref, 5)
		if err != nil {
			return err
		}
		<-s.C
		ref.Cancel() // its function exits with code 5 on the way out
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee, "a clean stop would return nil")
	require.Equal(t, 5, ee.Code)
}

func TestTwentyFiveFailingActors(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const actors = 25
	start := time.Now()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		for i := range actors {
			n.Go(func(context.Context) error {
				// Each actor in a nursery of its own, so one failure does not
				// cancel the others before they fail too.
				return nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
					ref, err := actor.Spawn(ctx, n, fmt.Sprintf("w%d", i))
					if err != nil {
						return err
					}
					_, err = fail.Call(ctx, ref, fmt.Sprintf("w%d", i))
					return err
				})
			})
		}
		return nil
	})
	require.Len(t, nursery.Errors(err), actors)
	for _, e := range nursery.Errors(err) {
		require.ErrorIs(t, e, errQuota)
	}
	require.Less(t, time.Since(start), 30*time.Second)
}

func TestOneOfTenFails(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var pids []int
	var mu sync.Mutex
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		var refs []*actor.Ref
		for i := range 10 {
			ref, err := actor.Spawn(ctx, n, fmt.Sprintf("w%d", i))
			if err != nil {
				return err
			}
			refs = append(refs, ref)
			mu.Lock()
			pids = append(pids, ref.PID())
			mu.Unlock()
		}
		for i, ref := range refs[1:] {
			n.Go(func(ctx context.Context) error {
				_, err := block.Call(ctx, ref, struct{}{})
				_ = i
				return err
			})
		}
		_, err := fail.Call(ctx, refs[0], "w0")
		return err
	})
	require.ErrorIs(t, err, errQuota)
	require.Len(t, nursery.Errors(err), 1, "only the failure, not the cancellations")
	if proctest.ProcessBackend() {
		require.Empty(t, proctest.Gone(pids, 0), "all ten were reaped")
	}
}

func TestThreeLevelErrorVia(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "child")
		if err != nil {
			return err
		}
		_, err = middle.Call(ctx, ref, "fail")
		return err
	})
	var re *actor.RemoteError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "grandchild", re.Source.Name)
	require.ErrorIs(t, err, errQuota)
	require.Len(t, re.Via, 1, "one intermediate actor")
	require.Equal(t, "child", re.Via[0].Name)
	require.Contains(t, err.Error(), "via actor child[")
}

func TestCancelAtRootReapsTheTree(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var pids []int
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "child")
		if err != nil {
			return err
		}
		s, err := tree.Open(ctx, ref, struct{}{})
		if err != nil {
			return err
		}
		pids = append(pids, <-s.C, <-s.C)
		n.Cancel(nil)
		_ = s.Err()
		return nil
	})
	require.NoError(t, err)
	require.Len(t, pids, 2)
	if proctest.ProcessBackend() {
		require.Empty(t, proctest.Gone(pids, 2*time.Second), "child and grandchild are gone")
	}
}

func TestParentKilledTakesTheTreeWithIt(t *testing.T) {
	proctest.NeedsProcesses(t, "a parent process to kill")
	proctest.NoChildrenLeft(t)
	var descendants []int
	var took time.Duration
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		parent, err := actor.Spawn(ctx, n, "parent")
		if err != nil {
			return err
		}
		s, err := deepTree.Open(ctx, parent, struct{}{})
		if err != nil {
			return err
		}
		descendants = append(descendants, <-s.C, <-s.C)
		require.NoError(t, sigkill(parent.PID()))
		start := time.Now()
		left := proctest.Gone(descendants, 5*time.Second)
		took = time.Since(start)
		require.Empty(t, left, "no orphans")
		return s.Err()
	})
	require.Len(t, descendants, 2)
	require.Less(t, took, time.Second, "the child and the grandchild were gone within a second")
}

func TestSpawnFailures(t *testing.T) {
	proctest.NeedsProcesses(t, "an executable to spawn")
	proctest.NoChildrenLeft(t)
	ctx := context.Background()
	t.Run("dies before the handshake", func(t *testing.T) {
		err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			_, err := actor.Spawn(ctx, n, "early", actor.WithExecutable("/bin/sh"),
				actor.WithArgs("-c", "echo 'cannot start: no config' >&2; exit 7"))
			return err
		})
		var ee *actor.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 7, ee.Code)
		require.Contains(t, ee.Stderr, "cannot start: no config")
	})
	t.Run("never calls Main", func(t *testing.T) {
		start := time.Now()
		err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			_, err := actor.Spawn(ctx, n, "silent", actor.WithExecutable("/bin/sleep"), actor.WithArgs("60"),
				actor.WithStartTimeout(300*time.Millisecond))
			return err
		})
		require.ErrorIs(t, err, actor.ErrNoHandshake)
		require.ErrorContains(t, err, "call actor.Main() first in main")
		require.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("cancelled mid-handshake", func(t *testing.T) {
		// The child is slow to start, and exits 2 once its parent has hung
		// up, as an actor does: the spawn's ctx ended first, and that is
		// the news, not the exit of a child the spawn itself abandoned.
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		err := nursery.Run(ctx, func(_ context.Context, n *nursery.Nursery) error {
			_, err := actor.Spawn(sctx, n, "slow", actor.WithExecutable("/bin/sh"),
				actor.WithArgs("-c", "sleep 0.5; exit 2"))
			return err
		})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var ee *actor.ExitError
		require.False(t, errors.As(err, &ee), "a spurious exit: %v", err)
	})
	t.Run("missing executable", func(t *testing.T) {
		err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			_, err := actor.Spawn(ctx, n, "ghost", actor.WithExecutable("/nonexistent/grove-worker"))
			return err
		})
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestSpawnOptions(t *testing.T) {
	proctest.NeedsProcesses(t, "an environment, directory and arguments of its own")
	proctest.NoChildrenLeft(t)
	dir := t.TempDir()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		added, err := actor.Spawn(ctx, n, "added", actor.WithEnv("GROVE_TEST_VAR=42"),
			actor.WithDir(dir), actor.WithArgs("-test.v=false", "extra"))
		if err != nil {
			return err
		}
		env, err := describe.Call(ctx, added, "GROVE_TEST_VAR")
		require.NoError(t, err)
		require.Equal(t, "42", env.Var, "added to the environment")
		require.Equal(t, os.Getenv("PATH"), env.Path, "the rest is inherited")
		require.Equal(t, dir, env.Dir)
		require.Equal(t, []string{"-test.v=false", "extra"}, env.Args)

		only, err := actor.Spawn(ctx, n, "only", actor.WithEnvOnly("GROVE_TEST_VAR=7"))
		if err != nil {
			return err
		}
		env, err = describe.Call(ctx, only, "GROVE_TEST_VAR")
		require.NoError(t, err)
		require.Equal(t, "7", env.Var)
		require.Empty(t, env.Path, "the environment was replaced")
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestBadCalls(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		_, err = actor.CallByName[int](ctx, ref, "test.noSuchFunction", 1)
		require.ErrorIs(t, err, actor.ErrUnknownFunction)
		_, err = actor.CallByName[int](ctx, ref, "test.square", "not a number")
		require.ErrorIs(t, err, actor.ErrBadArgument)
		require.ErrorContains(t, err, "test.square")
		got, err := square.Call(ctx, ref, 4)
		require.NoError(t, err, "the actor lives on")
		require.Equal(t, 16, got)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestStreamSlowReader(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const items = 100_000
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "producer")
		if err != nil {
			return err
		}
		s, err := count.Open(ctx, ref, items)
		if err != nil {
			return err
		}
		next := 0
		for v := range s.C {
			if v != next {
				return fmt.Errorf("item %d arrived as %d", next, v)
			}
			next++
			if next%10_000 == 0 && items-next > cap(s.C) {
				// A slow reader now and then: pause until the producer has
				// filled the channel and must wait for credit.
				require.Eventually(t, func() bool { return len(s.C) == cap(s.C) }, 10*time.Second, time.Millisecond,
					"the producer fills the channel while the reader pauses")
			}
		}
		require.Equal(t, items, next)
		require.NoError(t, s.Err())
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestDuplex(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const items = 10_000
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "echo")
		if err != nil {
			return err
		}
		d, err := upper.Open(ctx, ref)
		if err != nil {
			return err
		}
		go func() {
			defer close(d.In)
			for i := range items {
				d.In <- fmt.Sprintf("item-%d", i)
			}
		}()
		got := 0
		for s := range d.Out {
			if want := strings.ToUpper(fmt.Sprintf("item-%d", got)); s != want {
				return fmt.Errorf("got %q, want %q", s, want)
			}
			got++
		}
		require.Equal(t, items, got)
		require.NoError(t, d.Err())
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestCancelMidStream(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "producer")
		if err != nil {
			return err
		}
		sctx, cancel := context.WithCancel(ctx)
		s, err := count.Open(sctx, ref, 1_000_000_000)
		if err != nil {
			cancel()
			return err
		}
		for range 100 {
			<-s.C
		}
		cancel()
		for range s.C { // closes promptly
		}
		require.ErrorIs(t, s.Err(), context.Canceled)
		got, err := square.Call(ctx, ref, 6)
		require.NoError(t, err, "the actor ended the stream and serves on")
		require.Equal(t, 36, got)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestRunIn(t *testing.T) {
	proctest.NoChildrenLeft(t)
	got, err := actor.RunIn(context.Background(), square, 9)
	require.NoError(t, err)
	require.Equal(t, 81, got)
	p, err := actor.RunIn(context.Background(), pid, struct{}{})
	require.NoError(t, err)
	if proctest.ProcessBackend() {
		require.False(t, proctest.Alive(p), "the one-shot actor is gone")
	}
}

func TestOutputIsWholeLinesAndPrefixed(t *testing.T) {
	proctest.NeedsProcesses(t, "an output of its own")
	proctest.NoChildrenLeft(t)
	var out syncBuffer
	const lines = 200
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		for i := range 3 {
			n.Go(func(ctx context.Context) error {
				ref, err := actor.Spawn(ctx, n, fmt.Sprintf("chatty%d", i), actor.WithOutput(&out))
				if err != nil {
					return err
				}
				_, err = chatty.Call(ctx, ref, lines)
				ref.Cancel()
				return err
			})
		}
		return nil
	})
	require.NoError(t, err)
	all := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, all, 3*lines)
	want := "line N of " + strings.Repeat("x", 50)
	for _, l := range all {
		name, rest, ok := strings.Cut(l, "] ")
		require.True(t, ok, l)
		require.True(t, strings.HasPrefix(name, "[chatty"), l)
		var i int
		_, err := fmt.Sscanf(rest, "line %d of", &i)
		require.NoError(t, err, l)
		require.Equal(t, want, strings.Replace(rest, fmt.Sprint(i), "N", 1), "a whole line: %q", l)
	}
}

func TestOutputLongLines(t *testing.T) {
	proctest.NeedsProcesses(t, "an output of its own")
	proctest.NoChildrenLeft(t)
	var out syncBuffer
	writeLongLines(t, actor.WithOutput(&out))
	var lens []int
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		rest, ok := strings.CutPrefix(l, "[long] ")
		require.True(t, ok, "every piece is prefixed: %.40q", l)
		lens = append(lens, len(rest))
	}
	require.Equal(t, longLinesCut, lens, "whole lines, a long one cut at 64 KiB, and the unterminated last line")
	require.True(t, strings.HasSuffix(out.String(), "[long] unterminated\n"))
}

// longLinesCut are the lengths of the lines writeLongLines's actor writes,
// as they are forwarded: a line longer than 64 KiB is cut.
var longLinesCut = []int{10<<10 - 1, 64 << 10, 100<<10 - 1 - 64<<10, 2, len("unterminated")}

// writeLongLines has an actor "long", spawned with opts, write lines
// longer than the 4 KiB read buffer, and longer than the 64 KiB longest
// line, then a short one and an unterminated one.
func writeLongLines(t *testing.T, opts ...actor.Option) {
	t.Helper()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "long", opts...)
		if err != nil {
			return err
		}
		_, err = longLines.Call(ctx, ref, []int{10 << 10, 100 << 10, 3})
		n.Cancel(nil)
		return err
	})
	require.NoError(t, err)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCallBatch(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "batcher")
		if err != nil {
			return err
		}
		outs, errs, err := actor.CallBatch(ctx, ref, square, []int{1, 2, 3, 4})
		require.NoError(t, err)
		require.Equal(t, []int{1, 4, 9, 16}, outs)
		require.Equal(t, []error{nil, nil, nil, nil}, errs)

		_, errs, err = actor.CallBatch(ctx, ref, fail, []string{"a", "b"})
		require.NoError(t, err, "item failures are not the batch's")
		for _, e := range errs {
			require.ErrorIs(t, e, errQuota)
		}
		_, errs, err = actor.CallBatch(ctx, ref, panicky, []struct{}{{}})
		require.NoError(t, err)
		var re *actor.RemoteError
		require.ErrorAs(t, errs[0], &re)
		require.True(t, re.Panicked())

		_, errs, err = actor.CallBatch(ctx, ref, unencodable, []chan int{make(chan int)})
		require.NoError(t, err)
		require.ErrorContains(t, errs[0], "encode the argument")
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestKill(t *testing.T) {
	proctest.NeedsProcesses(t, "SIGKILL")
	proctest.NoChildrenLeft(t)
	var callErr error
	start := time.Now()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "doomed", actor.WithGrace(time.Hour))
		if err != nil {
			return err
		}
		st, err := headstrong.Open(ctx, ref, true) // ignores ctx and SIGTERM
		if err != nil {
			return err
		}
		<-st.C
		ref.Cancel() // the ladder starts, and would wait an hour...
		ref.Kill()   // ...but Kill cuts it short
		callErr = st.Err()
		return nil
	})
	require.NoError(t, err, "a killed actor's task ends without an error")
	var ee *actor.ExitError
	require.ErrorAs(t, callErr, &ee)
	require.Equal(t, syscall.SIGKILL, ee.Signal)
	require.Less(t, time.Since(start), 5*time.Second)
}
