//go:build linux

package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/nursery"
)

// Three core hosts, each an agent process embedding its own server: a
// client joined to all three calls an actor on each. Then the core host
// whose server the client is connected to is SIGKILLed, server and all:
// its actor fails with a HostLostError within the crash bound (250 ms:
// its server took the $SYS DISCONNECT along, so the other core agents
// find it by their servers' lost routes, then confirm and report it),
// the other hosts' actors keep answering,
// their links, which ran through the lost server, resuming through
// another (scaleout §5.4 rule 3) with no call failing, and a new spawn on
// the lost host fails at once.
func TestCoreHosts(t *testing.T) {
	// T well above the bound, so that the heartbeat cannot meet it.
	tc := clustertest.Start(t, clustertest.Core(), clustertest.Hosts("a", "b", "c"), clustertest.DeadInterval(2*time.Second))
	for _, h := range tc.Hosts() {
		tc.Agent(t, h)
	}
	c := tc.Client(t)
	lost := tc.Hosts()[connectedTo(t, tc, c)]
	var survivors []string
	for _, h := range tc.Hosts() {
		if h != lost {
			survivors = append(survivors, h)
		}
	}
	type end struct {
		err error
		at  time.Time
	}
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		refs := map[string]*actor.Ref{}
		for _, h := range survivors {
			ref, err := actor.Spawn(ctx, n, "survivor", actor.OnHost(c.Host(h)), actor.WithOutput(&syncBuffer{}))
			require.NoError(t, err, "spawn on %s", h)
			require.Equal(t, h, ref.Host())
			env, err := environ.Call(ctx, ref, struct{}{})
			require.NoError(t, err)
			for _, kv := range env {
				require.False(t, strings.HasPrefix(kv, "GROVE_CLUSTERTEST_CORE="), "an actor gets no route password")
			}
			refs[h] = ref
		}
		// The doomed actor has a nursery of its own: its loss cancels
		// nothing here.
		ready := make(chan struct{})
		doomed := make(chan end, 1)
		go func() {
			err := nursery.Run(ctx, func(ctx context.Context, dn *nursery.Nursery) error {
				ref, err := actor.Spawn(ctx, dn, "doomed", actor.OnHost(c.Host(lost)), actor.WithOutput(&syncBuffer{}))
				if err != nil {
					return err
				}
				if _, err := pid.Call(ctx, ref, struct{}{}); err != nil {
					return err
				}
				close(ready)
				_, err = block.Call(ctx, ref, struct{}{})
				return err
			})
			doomed <- end{err, time.Now()}
		}()
		select {
		case <-ready:
		case e := <-doomed:
			t.Fatalf("the actor on %s: %v", lost, e.err)
		}
		var killed time.Time
		longest := callsAcross(ctx, t, refs[survivors[0]], func() {
			killed = time.Now()
			tc.Kill(lost)
		})
		for i := range 20 {
			got, err := pid.Call(ctx, refs[survivors[1]], struct{}{})
			require.NoError(t, err, "call %d on %s", i, survivors[1])
			require.Equal(t, refs[survivors[1]].PID(), got)
		}
		e := <-doomed
		var le *actor.HostLostError
		require.ErrorAs(t, e.err, &le)
		require.Equal(t, lost, le.Host)
		elapsed := e.at.Sub(killed)
		t.Logf("core host %s killed with its server: its actor lost after %v (%v); the links to %v resumed, the longest call took %v",
			lost, elapsed, le, survivors, longest)
		require.NotEqual(t, "silent", le.Reason, "found by the lost route, not the heartbeat")
		require.Less(t, elapsed, 250*time.Millisecond+slack, "detected after %v (%s): the crash bound is 250 ms", elapsed, le.Reason)
		require.Less(t, longest, reconnectPause+slack)

		_, err := actor.Spawn(ctx, n, "late", actor.OnHost(c.Host(lost)))
		require.ErrorIs(t, err, actor.ErrHostUnavailable)
		for _, ref := range refs {
			ref.Cancel()
		}
		return nil
	})
	require.NoError(t, err)
}
