package actor_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// The cancel ladder of many actors at once (see ladder.go): every one is
// signalled, reaped and reported, each by its own grace and kill delay.

// spinDeaf says it runs, then keeps a CPU busy and never looks at its ctx:
// only a signal ends it.
var spinDeaf = actor.StreamFunc("ladder.spinDeaf", func(_ context.Context, _ int, out chan<- int) error {
	out <- 1
	x := uint64(1)
	for {
		x = x*6364136223846793005 + 1442695040888963407
	}
})

// TestCancelLadderKillsEveryActor: fifty actors that spin and ignore their
// ctx, cancelled together, are all killed by the ladder and reaped: every
// call ends with ErrStopped, the nursery ends without an error, and no
// process is left.
func TestCancelLadderKillsEveryActor(t *testing.T) {
	proctest.NeedsProcesses(t, "processes that only a signal ends")
	proctest.NoChildrenLeft(t)
	const n = 50
	grace, kill := 100*time.Millisecond, 100*time.Millisecond
	var (
		cancelled time.Time
		pids      []int
		mu        sync.Mutex
		callErrs  []error
	)
	err := nursery.Run(context.Background(), func(ctx context.Context, nu *nursery.Nursery) error {
		var running sync.WaitGroup
		for range n {
			ref, err := actor.Spawn(ctx, nu, "spinner", actor.WithGrace(grace), actor.WithKillDelay(kill))
			if err != nil {
				return err
			}
			pids = append(pids, ref.PID())
			st, err := spinDeaf.Open(context.Background(), ref, 0) // ended by the stop, not by its ctx
			if err != nil {
				return err
			}
			running.Add(1)
			nu.Go(func(ctx context.Context) error {
				<-st.C // it runs
				running.Done()
				for range st.C {
				}
				mu.Lock()
				callErrs = append(callErrs, st.Err())
				mu.Unlock()
				return nil
			})
		}
		running.Wait()
		cancelled = time.Now()
		nu.Cancel(nil)
		return nil
	})
	took := time.Since(cancelled)
	require.NoError(t, err)
	require.Len(t, callErrs, n)
	for i, err := range callErrs {
		require.ErrorIs(t, err, actor.ErrStopped, "call %d", i)
	}
	require.GreaterOrEqual(t, took, grace+kill, "the ladder signalled before grace and kill delay")
	require.Less(t, took, grace+kill+10*time.Second, "the ladder is bounded")
	require.Empty(t, proctest.Gone(pids, 0), "processes outlived their nursery")
}

// TestCancelLadderMixedGrace: actors with different grace periods and
// kill delays, cancelled together, each climb their own ladder (none ends
// before its grace period), and one that exits on the stop message
// during the others' ladder ends at once, stopped.
func TestCancelLadderMixedGrace(t *testing.T) {
	type ended struct {
		at  time.Time
		err error
	}
	cases := []struct {
		grace, kill time.Duration
		obstinate   bool
	}{
		{0, 50 * time.Millisecond, true},
		{150 * time.Millisecond, 0, true},
		{400 * time.Millisecond, 50 * time.Millisecond, true},
		{30 * time.Second, 30 * time.Second, false}, // cooperative: the stop message ends it
	}
	var cancelled time.Time
	ends := make([]chan ended, len(cases))
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		for i, tc := range cases {
			ref, err := actor.Spawn(ctx, n, "mixed", actor.WithGrace(tc.grace), actor.WithKillDelay(tc.kill))
			if err != nil {
				return err
			}
			key := ref.ID()
			t.Cleanup(func() { // the goroutine backend's abandoned function
				c := release(key)
				releases.Delete(key)
				close(c)
			})
			ends[i] = make(chan ended, 1)
			fn := blockFor
			if tc.obstinate {
				fn = obstinate
			}
			go func() {
				_, err := fn.Call(context.Background(), ref, key)
				ends[i] <- ended{time.Now(), err}
			}()
			waitStarted(ctx, t, ref, key, 1)
		}
		cancelled = time.Now()
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
	after := make([]time.Duration, len(cases))
	for i := range cases {
		e := <-ends[i]
		require.ErrorIs(t, e.err, actor.ErrStopped, "case %d", i)
		after[i] = e.at.Sub(cancelled)
	}
	for i, tc := range cases {
		if tc.obstinate {
			require.GreaterOrEqual(t, after[i], tc.grace, "case %d ended before its grace period", i)
		} else {
			require.Less(t, after[i], 10*time.Second, "the cooperative actor waited for its ladder")
		}
	}
	require.Less(t, after[0], after[2], "a grace of 0 ended after one of 400 ms")
}

// TestCancelLadderKillDuringTheLadder: Kill of one actor while the ladder
// runs for many ends it at once, killed, and leaves the rest to theirs.
func TestCancelLadderKillDuringTheLadder(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit status")
	proctest.NoChildrenLeft(t)
	const grace = 500 * time.Millisecond
	var (
		callErrs [3]error
		endedAt  [3]time.Time
	)
	start := time.Now()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		var refs [3]*actor.Ref
		killed := make(chan struct{})
		for i := range refs {
			ref, err := actor.Spawn(ctx, n, "ladder", actor.WithGrace(grace), actor.WithKillDelay(100*time.Millisecond))
			if err != nil {
				return err
			}
			refs[i] = ref
			n.Go(func(context.Context) error {
				_, callErrs[i] = obstinate.Call(context.Background(), ref, ref.ID())
				endedAt[i] = time.Now()
				if i == 1 {
					close(killed)
				}
				return nil
			})
			waitStarted(ctx, t, ref, ref.ID(), 1)
		}
		start = time.Now()
		for _, ref := range refs {
			ref.Cancel()
		}
		refs[1].Kill()
		<-killed
		return nil
	})
	require.NoError(t, err)
	var took [3]time.Duration
	for i, at := range endedAt {
		took[i] = at.Sub(start)
	}
	var ee *actor.ExitError
	require.True(t, errors.As(callErrs[1], &ee), "the killed actor's call: %v", callErrs[1])
	require.Less(t, took[1], grace, "Kill waited for the ladder")
	for _, i := range []int{0, 2} {
		require.ErrorIs(t, callErrs[i], actor.ErrStopped)
		require.GreaterOrEqual(t, took[i], grace, "the others' ladders were cut short")
	}
}
