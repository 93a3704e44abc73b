//go:build linux

package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/nursery"
)

// reconnectPause bounds a link's pause across its server's loss: the
// client's reconnect wait and jitter (100 + 100 ms), then one round trip
// of the bearer's Resume.
const reconnectPause = 200 * time.Millisecond

// callsAcross runs calls on ref in a loop until lose has been called once
// (after 20 calls) and 20 more calls have succeeded, for at most 20 s; no
// call may fail. It returns the longest call after the loss.
func callsAcross(ctx context.Context, t *testing.T, ref *actor.Ref, lose func()) time.Duration {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var longest time.Duration
	after := -1
	for i := 0; after < 20; i++ {
		require.True(t, time.Now().Before(deadline), "20 calls did not succeed within 20 s (%d after the loss)", after)
		if i == 20 {
			lose()
			after = 0
		}
		start := time.Now()
		got, err := pid.Call(ctx, ref, struct{}{})
		took := time.Since(start)
		require.NoError(t, err, "call %d (%d after the loss)", i, after)
		require.Equal(t, ref.PID(), got)
		if after >= 0 {
			after++
			longest = max(longest, took)
		}
	}
	return longest
}

// connectedTo is the index of the server c is connected to.
func connectedTo(t *testing.T, tc *clustertest.Cluster, c *cluster.Cluster) int {
	t.Helper()
	url := c.Conn().ConnectedUrl()
	for i, u := range tc.URLs() {
		if u == url {
			return i
		}
	}
	t.Fatalf("the client is connected to %q, none of the servers %v", url, tc.URLs())
	return -1
}

// A core server lost while links run through it: the server of the client,
// or of the agent, is shut down during a stream of calls on a remote
// actor; no call fails, the connection moves to another server and the
// link resumes (scaleout §5.4 rule 3) within the reconnect wait and a
// round trip.
func TestServerLostUnderLinks(t *testing.T) {
	t.Run("the client's server", func(t *testing.T) {
		tc := clustertest.Start(t, clustertest.Servers(3), clustertest.Hosts("a"))
		tc.Agent(t, "a") // through its proxy to server 0, which stays
		cfg := tc.Config(embed.ClientUser)
		cfg.URLs = []string{tc.URL(1), tc.URL(2)}
		c := tc.Join(t, cfg)
		callsAcrossLoss(t, c, func() int {
			i := connectedTo(t, tc, c)
			tc.Servers().Server(i).Shutdown()
			return i
		}, func() int { return connectedTo(t, tc, c) })
	})
	t.Run("the agent's server", func(t *testing.T) {
		tc := clustertest.Start(t, clustertest.Servers(3), clustertest.Hosts("a"))
		cfg := tc.Config(embed.ClientUser)
		cfg.URLs = []string{tc.URL(1)}
		c := tc.Join(t, cfg)
		up, err := c.Conn().SubscribeSync("grove." + tc.Name() + ".ev.hostup.a")
		require.NoError(t, err)
		require.NoError(t, c.Conn().Flush())
		// The agent runs in this process, joined to servers 0 and 2
		// (clustertest's agents reach one server, through their proxy).
		acfg := tc.Config(embed.AgentUser("a"))
		acfg.URLs = []string{tc.URL(0), tc.URL(2)}
		ctx, stop := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- cluster.Serve(ctx, cluster.AgentConfig{Config: acfg, Host: "a"}) }()
		defer func() { stop(); require.NoError(t, <-served) }()
		_, err = up.NextMsg(10 * time.Second)
		require.NoError(t, err, "the agent announces itself")
		agentOn := func() int {
			for _, i := range []int{0, 2} {
				if tc.Servers().Server(i).NumClients() > 0 {
					return i
				}
			}
			t.Fatal("the agent is connected to neither server 0 nor 2")
			return -1
		}
		callsAcrossLoss(t, c, func() int {
			i := agentOn()
			tc.Servers().Server(i).Shutdown()
			return i
		}, agentOn)
	})
}

// callsAcrossLoss spawns an actor on host a and runs callsAcross on it,
// lose shutting a server down and returning its index, on returning the
// index of the server the connection concerned is on afterwards.
func callsAcrossLoss(t *testing.T, c *cluster.Cluster, lose, on func() int) {
	t.Helper()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		lost := -1
		longest := callsAcross(ctx, t, ref, func() { lost = lose() })
		now := on()
		require.NotEqual(t, lost, now)
		t.Logf("server %d lost under the link: it resumed through server %d, the longest call took %v", lost, now, longest)
		require.Less(t, longest, reconnectPause+slack)
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
}
