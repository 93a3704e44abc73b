//go:build linux

package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/nursery"
)

// An agent cannot forge membership for a live host: not its announcement
// (another host's record), nor its loss (without an incarnation, of
// another host's subject, or of the incarnation it runs: every report is
// confirmed by a ping of the host on receipt).
func TestForgedMembership(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a", "zz"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	forger := tc.Join(t, tc.Config(embed.AgentUser("zz")))
	m, err := c.Conn().Request("grove."+tc.Name()+".host.a.ping", nil, 2*time.Second)
	require.NoError(t, err)
	var rec struct{ Incarnation string }
	require.NoError(t, json.Unmarshal(m.Data, &rec))

	err = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		w, err := actor.Spawn(ctx, n, "w", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		require.NoError(t, err)
		pub := func(subj, body string) {
			_ = forger.Conn().Publish("grove."+tc.Name()+".ev."+subj, []byte(body))
		}
		pub("hostup.a", `{"host":"a","incarnation":"forged","labels":{"forged":"1"}}`)
		pub("hostdown.a", `{"host":"a","reason":"forged, every incarnation"}`)
		pub("hostdown.zz", `{"host":"a","incarnation":"`+rec.Incarnation+`","reason":"forged, another subject"}`)
		pub("hostdown.a", `{"host":"a","incarnation":"`+rec.Incarnation+`","reason":"forged, a live host"}`)
		// The probe, announced after them on the same connection: once the
		// view has it, it has handled the reports (one subscription, in order).
		pub("hostup.zz", `{"host":"zz","incarnation":"x","build":"`+actor.BuildID()+`","labels":{"probe":"1"}}`)
		require.NoError(t, forger.Conn().Flush())
		probe := func() bool {
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				_, err := actor.Spawn(ctx, n, "p", actor.OnHost(c.Any(cluster.Where("probe", "1"))))
				return err
			})
			return strings.Contains(fmt.Sprint(err), "no agent answers")
		}
		require.Eventually(t, probe, 2*time.Second, 5*time.Millisecond)
		_, err = actor.Spawn(ctx, n, "f", actor.OnHost(c.Any(cluster.Where("forged", "1"))))
		require.ErrorIs(t, err, actor.ErrHostUnavailable, "a forged announcement of a was taken")
		_, err = environ.Call(ctx, w, struct{}{})
		require.NoError(t, err, "a forged report lost a's actor")
		w2, err := actor.Spawn(ctx, n, "w2", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		require.NoError(t, err, "a forged report downed a")
		w.Cancel()
		w2.Cancel()
		return nil
	})
	require.NoError(t, err)
}
