//go:build linux

package cluster_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/nursery"
)

// A core agent in this process, given only the other core host's URL:
// it starts its own server, connects to it (not to the other), serves
// spawns routed from a client of the other server, and shuts its server
// down when it stops. Misconfigurations are refused with the fix.
func TestServeCore(t *testing.T) {
	core, err := embed.LoopbackCore("a", "b")
	require.NoError(t, err)
	d, users, err := embed.NewDeployment("", []string{"a", "b"}, core)
	require.NoError(t, err)
	const T = 400 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := embed.StartServer(ctx, embed.ServerOptions{Deployment: d, Host: "b", DeadInterval: T})
	require.NoError(t, err)
	defer b.Shutdown()
	cfgOf := func(user string, urls ...string) cluster.Config {
		return cluster.Config{User: user, URLs: urls, NKeySeed: users[user].Seed, DeadInterval: T}
	}
	acfg := cluster.AgentConfig{
		Config: cfgOf(embed.AgentUser("a"), b.URL(0)), Host: "a",
		SysSeed: users[embed.SysUser].Seed, Core: &embed.ServerOptions{Deployment: d},
	}

	t.Run("refused", func(t *testing.T) {
		noSys := acfg
		noSys.SysSeed = nil
		require.ErrorContains(t, cluster.Serve(ctx, noSys), "set SysSeed")
		other := acfg
		other.Name = "other"
		require.ErrorContains(t, cluster.Serve(ctx, other), `AgentConfig.Name "other" is not the name of its Core's Deployment "grove"`)
	})

	c, err := cluster.Join(ctx, cfgOf(embed.ClientUser, b.URL(0)))
	require.NoError(t, err)
	defer c.Close()
	up, err := c.Conn().SubscribeSync("grove.grove.ev.hostup.a")
	require.NoError(t, err)
	require.NoError(t, c.Conn().Flush())
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- cluster.Serve(sctx, acfg) }()
	if _, err = up.NextMsg(10 * time.Second); err != nil {
		select {
		case serr := <-served:
			t.Fatalf("the core agent ended before announcing itself: %v", serr)
		default:
		}
	}
	require.NoError(t, err, "the core agent's announcement reaches the other server")
	require.Equal(t, 1, b.Server(0).NumClients(), "the agent and its system user connect to their own server: b has the client only")

	err = nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		got, err := pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		require.Equal(t, ref.PID(), got)
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)

	stop()
	require.NoError(t, <-served)
	_, err = net.DialTimeout("tcp", core["a"].Client, time.Second)
	require.Error(t, err, "the core agent's server is shut down with it")
}
