//go:build linux

package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/nursery"
)

// Two root programs have users of their own: the second can neither read
// the first's link nor write on it, and the first's actor survives its
// try.
func TestClientCannotTouchAnothersLinks(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	ca, cb := tc.Client(t), tc.Client(t)
	userA := strings.Fields(ca.Conn().Opts.Name)[2] // "grove C user"
	linkDn := "grove." + tc.Name() + ".link.a." + userA + ".*.dn"
	seenA := subjects(t, ca.Conn(), linkDn) // A's own view of its link
	seenB := subjects(t, cb.Conn(), linkDn)

	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(ca.Host("a")))
		if err != nil {
			return err
		}
		_, err = pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		var dn string
		select {
		case dn = <-seenA:
		case <-time.After(5 * time.Second):
			t.Fatal("A saw nothing on its own link")
		}
		select {
		case s := <-seenB:
			t.Fatalf("B read A's link on %s", s)
		default:
		}
		// B writes garbage on A's link: the servers refuse it.
		up := strings.TrimSuffix(dn, ".dn") + ".up"
		require.NoError(t, cb.Conn().Publish(up, []byte{9}))
		require.NoError(t, cb.Conn().Flush())
		// A signal for A's link, with B's inbox: the agent refuses it.
		link := strings.Split(dn, ".")[5]
		req, _ := json.Marshal(map[string]any{"caller": userA, "link": link, "signal": 9})
		msg, err := cb.Conn().Request("grove."+tc.Name()+".host.a.ctl", req, 5*time.Second)
		require.NoError(t, err)
		require.Contains(t, string(msg.Data), `"auth"`)

		_, err = pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err, "A's actor after B's tries")
		select {
		case s := <-seenB:
			t.Fatalf("B read A's link on %s", s)
		default:
		}
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
}

// subjects subscribes nc to subj until t ends and returns the subjects of
// the first messages (16) it gets; the servers have the subscription.
func subjects(t *testing.T, nc *nats.Conn, subj string) <-chan string {
	seen := make(chan string, 16)
	sub, err := nc.Subscribe(subj, func(m *nats.Msg) {
		select {
		case seen <- m.Subject:
		default:
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	return seen
}

// parentEnviron is what an actor reads of its agent's environment: its
// bytes, or the error of reading them.
var parentEnviron = actor.Func("ctest.parentenviron", func(ctx context.Context, _ struct{}) ([2]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", os.Getppid()))
	if err != nil {
		return [2]string{"", err.Error()}, nil
	}
	return [2]string{string(b), ""}, nil
})

// An actor finds no seed in its agent's environment, and (when not root)
// cannot read it at all: the agent is not dumpable.
func TestActorCannotReadAgentsSeed(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	seeds := []string{string(tc.Config(embed.AgentUser("a")).NKeySeed), string(tc.Config(embed.SysUser).NKeySeed)}
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(c.Host("a")))
		if err != nil {
			return err
		}
		got, err := parentEnviron.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		for _, s := range seeds {
			require.NotContains(t, got[0], s, "the agent's environment holds a seed")
		}
		if os.Geteuid() != 0 {
			require.NotEmpty(t, got[1], "the actor read its agent's /proc/<pid>/environ")
		}
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
}

// Spawns that fail (a directory that does not exist) do not delay the
// agent's answer to a ping.
func TestFailedSpawnsDoNotStallAgent(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	nc := c.Conn()
	user := strings.Fields(nc.Opts.Name)[2]
	replies, err := nc.SubscribeSync("_INBOX_" + user + ".spawns.*")
	require.NoError(t, err)
	defer replies.Unsubscribe()
	for i := range 3 {
		req, _ := json.Marshal(map[string]any{"name": "ctest.pid", "id": "x", "build": actor.BuildID(), "caller": user,
			"link": fmt.Sprintf("aaaaaaaaaaaaaaaaaaaaaaaaa%d", i), "dir": "/nonexistent"})
		require.NoError(t, nc.PublishRequest("grove."+tc.Name()+".host.a.spawn", fmt.Sprintf("_INBOX_%s.spawns.%d", user, i), req))
	}
	require.NoError(t, nc.Flush())
	start := time.Now()
	_, err = nc.Request("grove."+tc.Name()+".host.a.ping", nil, 5*time.Second)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 300*time.Millisecond, "the ping waited behind failed spawns")
	for range 3 {
		m, err := replies.NextMsg(5 * time.Second)
		require.NoError(t, err)
		require.Contains(t, string(m.Data), `"kind":"start"`)
	}
}

// A client that names its connection as an agent's ("grove C agent-b")
// and disconnects does not get host b reported down: the crash watcher
// goes by the key the connection authenticated with.
func TestForgedAgentNameIsNoCrash(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a", "b"))
	tc.Agent(t, "a") // the watcher; b runs no agent, so a ping finds no one
	c := tc.Client(t)
	down, err := c.Conn().SubscribeSync("grove." + tc.Name() + ".ev.hostdown.b")
	require.NoError(t, err)
	defer down.Unsubscribe()
	require.NoError(t, c.Conn().Flush())

	cfg := tc.Config(embed.ClientUserOf("2"))
	kp, err := nkeys.FromSeed(cfg.NKeySeed)
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	forger, err := nats.Connect(cfg.URLs[0], nats.Name("grove "+tc.Name()+" "+embed.AgentUser("b")), nats.Nkey(pub, kp.Sign))
	require.NoError(t, err)
	require.NoError(t, forger.Flush())
	forger.Close()

	// Past the confirmation window (160 ms) with room to spare.
	m, err := down.NextMsg(1500 * time.Millisecond)
	require.ErrorIs(t, err, nats.ErrTimeout, "host b reported down: %v", m)
}

// An agent spawns only what its policy allows: actors named in Allow,
// environment variables of AllowEnv (never GROVE_ ones); each refusal is
// ErrNotAuthorized naming the fix.
func TestSpawnPolicy(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a", clustertest.AllowActors("far"), clustertest.AllowEnv("COLOR"))
	c := tc.Client(t)
	for _, tt := range []struct {
		name, actor string
		opts        []actor.Option
		want        string // "" for allowed
	}{
		{"allowed", "far", []actor.Option{actor.WithEnv("COLOR=red")}, ""},
		{"another actor", "other", nil, "AllowActors"},
		{"LD_PRELOAD", "far", []actor.Option{actor.WithEnv("LD_PRELOAD=/tmp/evil.so")}, "AllowEnv"},
		{"GROVE_", "far", []actor.Option{actor.WithEnv("GROVE_ACTOR_HOST=z")}, "GROVE_"},
	} {
		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, tt.actor, append(tt.opts, actor.OnHost(c.Host("a")))...)
			if err != nil {
				return err
			}
			ref.Cancel()
			return nil
		})
		if tt.want == "" {
			require.NoError(t, err, tt.name)
			continue
		}
		require.ErrorIs(t, err, actor.ErrNotAuthorized, tt.name)
		require.ErrorContains(t, err, tt.want, tt.name)
	}
}

// A user the servers do not let spawn (an agent's) gets ErrNotAuthorized
// at once, not the start timeout.
func TestUnauthorizedSpawnFailsAtOnce(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a", "b"))
	tc.Agent(t, "b")
	c := tc.Join(t, tc.Config(embed.AgentUser("a")))
	start := time.Now()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := actor.Spawn(ctx, n, "far", actor.OnHost(c.Host("b")), actor.WithStartTimeout(3*time.Second))
		return err
	})
	require.ErrorIs(t, err, actor.ErrNotAuthorized)
	require.ErrorContains(t, err, "spawn")
	require.Less(t, time.Since(start), time.Second)
}

// A spawn whose host does not answer in time fails with
// ErrHostUnavailable naming the host and a DeadBy, by which the actor its
// agent may have started after all is gone.
func TestSpawnTimeoutIsFenced(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	tc.Stop("a")
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := actor.Spawn(ctx, n, "late", actor.OnHost(c.Host("a")), actor.WithStartTimeout(300*time.Millisecond))
		return err
	})
	tc.Cont("a")
	require.ErrorIs(t, err, actor.ErrHostUnavailable)
	require.ErrorContains(t, err, "host a")
	var lost *actor.HostLostError
	require.ErrorAs(t, err, &lost)
	require.False(t, lost.DeadBy.IsZero())
	// By DeadBy the agent runs no actor.
	time.Sleep(time.Until(lost.DeadBy)) // a deadline to check, not an event to await
	msg, err := c.Conn().Request("grove."+tc.Name()+".host.a.ping", nil, 5*time.Second)
	require.NoError(t, err)
	require.Contains(t, string(msg.Data), `"actors":0`)
}
