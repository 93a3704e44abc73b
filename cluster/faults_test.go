//go:build linux

package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/nursery"
)

// slack is what the bounds get on a shared 2-core box (scaleout §10.5).
const slack = 300 * time.Millisecond

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// goneWithin polls (another host's process cannot be waited on) until pid
// is gone, for at most d, and reports when it was seen gone.
func goneWithin(t *testing.T, pid int, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for alive(pid) {
		require.True(t, time.Now().Before(deadline), "process %d still alive after %v", pid, d)
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}

// A host that crashes mid-call (its agent SIGKILLed) fails the call and the
// actor's task with a HostLostError within 250 ms, through the membership
// watcher of another host; the nursery cancels the siblings.
func TestRemoteHostCrash(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(2), clustertest.Hosts("a", "b"))
	tc.Agent(t, "a")
	tc.Agent(t, "b")
	c := tc.Client(t)
	var killed time.Time
	var callErr error
	siblingCancelled := make(chan struct{})
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "doomed", actor.OnHost(c.Host("b")), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		n.Go(func(ctx context.Context) error { <-ctx.Done(); close(siblingCancelled); return nil })
		callDone := make(chan struct{})
		go func() { defer close(callDone); _, callErr = block.Call(ctx, ref, struct{}{}) }()
		_, err = pid.Call(ctx, ref, struct{}{}) // the link is up, the call in flight
		require.NoError(t, err)
		killed = time.Now()
		tc.Kill("b")
		<-callDone
		return nil
	})
	elapsed := time.Since(killed)
	var le *actor.HostLostError
	require.ErrorAs(t, callErr, &le, "the call in flight")
	require.ErrorAs(t, err, &le, "the actor's task")
	require.Equal(t, "b", le.Host)
	require.Less(t, elapsed, 250*time.Millisecond+slack, "detected after %v (%s)", elapsed, le.Reason)
	t.Logf("crash detected in %v: %v", elapsed, le)
	<-siblingCancelled
}

// A hung host (SIGSTOP) is detected by the link's heartbeat within
// (¾T, 1¼T] + 50 ms; once it runs again (SIGCONT) its agent finds its
// parent's link dead and kills the orphan within the orphan grace.
func TestRemoteHostHang(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	T := tc.DeadInterval()
	var stopped time.Time
	var childPID int
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "frozen", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		childPID = ref.PID()
		_, err = pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		stopped = time.Now()
		tc.Stop("a")
		_, err = block.Call(ctx, ref, struct{}{})
		return err
	})
	elapsed := time.Since(stopped)
	var le *actor.HostLostError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "silent", le.Reason)
	require.Greater(t, elapsed, 3*T/4)
	require.Less(t, elapsed, 5*T/4+50*time.Millisecond+slack)
	t.Logf("hang detected in %v: %v", elapsed, le)
	require.True(t, alive(childPID), "the actor lives on, stopped, on its host")
	cont := time.Now()
	tc.Cont("a")
	gone := goneWithin(t, childPID, time.Second+200*time.Millisecond+slack)
	t.Logf("orphan gone %v after SIGCONT", gone.Sub(cont))
	require.False(t, gone.After(le.DeadBy.Add(time.Since(cont))), "the actor died by the fenced bound")
}

var _ = errors.New
