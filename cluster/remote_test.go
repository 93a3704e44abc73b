//go:build linux

package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/nursery"
)

// syncBuffer is a goroutine-safe output sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// A remote actor works as a local one: calls, a 1,000-item stream, duplex,
// a panic, output lines prefixed with its name and host.
func TestRemoteSpawnCallStreamDuplex(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(2), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	var out syncBuffer
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(c.Host("a")), actor.WithOutput(&out))
		if err != nil {
			return err
		}
		require.Equal(t, "a", ref.Host())
		got, err := pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		require.Equal(t, ref.PID(), got)

		st, err := count.Open(ctx, ref, 1000)
		require.NoError(t, err)
		items := 0
		for v := range st.C {
			require.Equal(t, items, v)
			items++
		}
		require.NoError(t, st.Err())
		require.Equal(t, 1000, items)

		d, err := upper.Open(ctx, ref)
		require.NoError(t, err)
		d.In <- "abc"
		close(d.In)
		require.Equal(t, "ABC", <-d.Out)
		for range d.Out {
		}
		require.NoError(t, d.Err())

		_, err = panicky.Call(ctx, ref, struct{}{})
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		require.True(t, re.Panicked())

		_, err = chatty.Call(ctx, ref, 3)
		require.NoError(t, err)
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3, out.String())
	for i, l := range lines {
		require.Equal(t, "[far@a] line "+string(rune('0'+i)), l)
	}
}

// A remote os.Exit(3) ends the actor's calls and task with an ExitError
// naming its host, with its stderr tail.
func TestRemoteExit(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "quitter", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		_, err = exit.Call(ctx, ref, 3)
		var ee *actor.ExitError
		require.ErrorAs(t, err, &ee)
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "a", ee.Host)
	require.Equal(t, 3, ee.Code)
	require.Contains(t, ee.Stderr, "about to exit with 3")
}

// A spawn on a host no agent serves fails with ErrHostUnavailable at once
// (NATS's no-responders), one known down without a round trip; a host
// running another build refuses with ErrBuildMismatch naming both.
func TestRemoteSpawnRefused(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		start := time.Now()
		_, err := actor.Spawn(ctx, n, "w", actor.OnHost(c.Host("nowhere")))
		elapsed := time.Since(start)
		require.ErrorIs(t, err, actor.ErrHostUnavailable)
		require.Less(t, elapsed, 5*time.Millisecond+20*time.Millisecond, "the bound is 5 ms; slack for a busy box")

		_, err = actor.Spawn(ctx, n, "w", actor.OnHost(otherBuild{c.Host("a")}))
		require.ErrorIs(t, err, actor.ErrBuildMismatch)
		require.ErrorContains(t, err, actor.BuildID())
		require.ErrorContains(t, err, "elsewhere-1")

		_, err = actor.Spawn(ctx, n, "w", actor.OnHost(c.Any(cluster.Where("gpu", "none"))))
		require.ErrorIs(t, err, actor.ErrHostUnavailable)
		ref, err := actor.Spawn(ctx, n, "w", actor.OnHost(c.Spread()))
		require.NoError(t, err)
		require.Equal(t, "a", ref.Host())
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
}

// otherBuild places as if this executable were another build.
type otherBuild struct{ actor.Placer }

func (p otherBuild) Place(ctx context.Context, spec actor.PlaceSpec) (actor.Remote, error) {
	spec.Build = "elsewhere-1"
	return p.Placer.Place(ctx, spec)
}

// The cancel ladder crosses hosts: an actor that ignores its ctx and
// SIGTERM is stopped by the agent's SIGKILL after grace and kill delay.
func TestRemoteCancelLadder(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	const grace, kill = 100 * time.Millisecond, 100 * time.Millisecond
	var start time.Time
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "headstrong", actor.OnHost(c.Host("a")),
			actor.WithGrace(grace), actor.WithKillDelay(kill), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		st, err := headstrong.Open(ctx, ref, true)
		require.NoError(t, err)
		<-st.C // it runs, ignoring everything but SIGKILL
		start = time.Now()
		ref.Cancel()
		for range st.C {
		}
		return nil
	})
	require.NoError(t, err)
	elapsed := time.Since(start)
	require.GreaterOrEqual(t, elapsed, grace+kill)
	require.Less(t, elapsed, grace+kill+200*time.Millisecond+300*time.Millisecond)
}

// Any takes the first host that matches and has room: a full host
// refuses with ErrNoCapacity and the next one takes the actor; Where
// selects by label; a remote actor holds none of its agent's credentials.
func TestRemoteAnyCapacityLabels(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a", "b"))
	tc.Agent(t, "a", clustertest.MaxActors(1))
	tc.Agent(t, "b", clustertest.Labels(map[string]string{"gpu": "x"}))
	c := tc.Client(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		first, err := actor.Spawn(ctx, n, "w1", actor.OnHost(c.Any()))
		require.NoError(t, err)
		require.Equal(t, "a", first.Host())
		_, err = actor.Spawn(ctx, n, "w0", actor.OnHost(c.Host("a")))
		require.ErrorIs(t, err, actor.ErrNoCapacity)
		second, err := actor.Spawn(ctx, n, "w2", actor.OnHost(c.Any()))
		require.NoError(t, err)
		require.Equal(t, "b", second.Host(), "a is full")
		third, err := actor.Spawn(ctx, n, "w3", actor.OnHost(c.Any(cluster.Where("gpu", "x"))))
		require.NoError(t, err)
		require.Equal(t, "b", third.Host())

		env, err := environ.Call(ctx, third, struct{}{})
		require.NoError(t, err)
		for _, h := range []string{"a", "b"} {
			seed := string(tc.Config(embed.AgentUser(h)).NKeySeed)
			require.NotContains(t, strings.Join(env, "\n"), seed, "the actor holds agent %s's seed", h)
		}
		sys := string(tc.Config(embed.SysUser).NKeySeed)
		require.NotContains(t, strings.Join(env, "\n"), sys, "the actor holds the system user's seed")
		require.Contains(t, strings.Join(env, "\n"), "GROVE_CLUSTERTEST="+tc.ID(), "the rest of the environment is inherited")
		for _, r := range []*actor.Ref{first, second, third} {
			r.Cancel()
		}
		return nil
	})
	require.NoError(t, err)
}

// Ref.Kill of a remote actor: the agent sends SIGKILL at once; the call in
// flight fails with its ExitError, naming the host; the task ends cleanly.
func TestRemoteKill(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	var start time.Time
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "victim", actor.OnHost(c.Host("a")),
			actor.WithGrace(time.Minute), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		st, err := headstrong.Open(ctx, ref, true)
		require.NoError(t, err)
		<-st.C
		start = time.Now()
		ref.Kill()
		for range st.C {
		}
		var ee *actor.ExitError
		require.ErrorAs(t, st.Err(), &ee)
		require.Equal(t, "a", ee.Host)
		require.Equal(t, syscall.SIGKILL, ee.Signal)
		return nil
	})
	require.NoError(t, err)
	require.Less(t, time.Since(start), 200*time.Millisecond+300*time.Millisecond)
}

// An agent that stops (Serve's ctx ends: SIGTERM to the agent) stops its
// actors with their ladder and reports their exits: the caller's actor
// ends with an ExitError from its host, not a lost host.
func TestRemoteAgentStops(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	ag := tc.Agent(t, "a")
	c := tc.Client(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "tenant", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		_, err = pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(ag.PID(), syscall.SIGTERM))
		_, err = block.Call(ctx, ref, struct{}{})
		return err
	})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "a", ee.Host)
	<-ag.Done()
}

// Hostile requests get a refusal, never a crash: the agent serves on.
func TestAgentHostileRequests(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	for _, tt := range []struct{ op, body string }{
		{"spawn", "\xff\x00garbage"},
		{"spawn", `{"name":"x","build":"` + actor.BuildID() + `","link":"../../etc","caller":"client"}`},
		{"spawn", `{"name":"x","build":"` + actor.BuildID() + `","link":"aaaaaaaaaaaaaaaaaaaaaaaaaa","caller":"Client.*"}`},
		{"ctl", `{"link":"nope","caller":"client","signal":9}`},
		{"ctl", `[1,2,3]`},
	} {
		m, err := c.Conn().Request("grove."+tc.Name()+".host.a."+tt.op, []byte(tt.body), 2*time.Second)
		require.NoError(t, err, "%s %q", tt.op, tt.body)
		require.Contains(t, string(m.Data), `"err":{"kind"`, "%s %q: %s", tt.op, tt.body, m.Data)
	}
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "after", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
}

// Spread puts each actor on the host running the fewest.
func TestRemoteSpread(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a", "b"))
	tc.Agent(t, "a")
	tc.Agent(t, "b")
	c := tc.Client(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		hosts := map[string]int{}
		for i := range 4 {
			ref, err := actor.Spawn(ctx, n, fmt.Sprint("w", i), actor.OnHost(c.Spread()), actor.WithOutput(&syncBuffer{}))
			require.NoError(t, err)
			hosts[ref.Host()]++
		}
		require.Equal(t, map[string]int{"a": 2, "b": 2}, hosts)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}
