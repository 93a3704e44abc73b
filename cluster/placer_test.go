//go:build linux

package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/nursery"
)

// A rolling deploy: host a0 (first in name order, the fewest actors) runs
// another build. Any and Spread place on the hosts that run the caller's
// build; only a selector that leaves none of them says ErrBuildMismatch.
func TestPlaceSkipsOtherBuilds(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a0", "b"))
	tc.Agent(t, "b")
	c := tc.Client(t)
	// Host a0's agent, of the old build: it announces itself and refuses
	// every spawn, as an agent of another build does.
	old := tc.Join(t, tc.Config(embed.AgentUser("a0")))
	sub, err := old.Conn().Subscribe("grove."+tc.Name()+".host.a0.spawn", func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"err":{"kind":"build","message":"it runs build \"old\""}}`))
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, old.Conn().Publish("grove."+tc.Name()+".ev.hostup.a0",
		[]byte(`{"host":"a0","incarnation":"x","build":"old","labels":{"old":"1"}}`)))
	require.NoError(t, old.Conn().Flush())
	spawn := func(p actor.Placer) (string, error) {
		var host string
		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "w", actor.OnHost(p), actor.WithOutput(&syncBuffer{}))
			if err != nil {
				return err
			}
			host = ref.Host()
			ref.Cancel()
			return nil
		})
		return host, err
	}
	// Once the view has a0, a selector of a0 alone is a build mismatch.
	require.Eventually(t, func() bool {
		_, err := spawn(c.Any(cluster.Where("old", "1")))
		return err != nil && strings.Contains(err.Error(), "build")
	}, 2*time.Second, 5*time.Millisecond)
	_, err = spawn(c.Any(cluster.Where("old", "1")))
	require.ErrorIs(t, err, actor.ErrBuildMismatch)
	require.ErrorContains(t, err, actor.BuildID())
	for name, p := range map[string]actor.Placer{"Any": c.Any(), "Spread": c.Spread()} {
		host, err := spawn(p)
		require.NoError(t, err, name)
		require.Equal(t, "b", host, name)
	}
}
