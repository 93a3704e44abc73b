//go:build linux

package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
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

// goneWithin waits until pid (a process of another host's agent, not a
// child of this one) has exited, for at most d, and reports when. It waits
// on a pidfd, which becomes readable once the process has exited, any
// process's, in the poller.
func goneWithin(t *testing.T, pid int, d time.Duration) time.Time {
	t.Helper()
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno == syscall.ESRCH {
		return time.Now() // gone already, and reaped
	}
	require.Zero(t, errno, "pidfd_open(%d): %v", pid, errno)
	require.NoError(t, syscall.SetNonblock(int(fd), true))
	f := os.NewFile(fd, "pidfd")
	defer f.Close()
	require.NoError(t, f.SetReadDeadline(time.Now().Add(d)))
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	// Read calls the function and, while it returns false, waits in the
	// poller until the pidfd is readable (the process exited) or the
	// deadline passes.
	err = rc.Read(func(uintptr) bool { return !alive(pid) })
	require.NoError(t, err, "process %d still alive after %v", pid, d)
	return time.Now()
}

// sysPidfdOpen is pidfd_open's number, the same on every architecture Go
// supports (Linux 5.3).
const sysPidfdOpen = 434

// A host that crashes mid-call (its agent SIGKILLed) fails the call and the
// actor's task with a HostLostError within about 400 ms (the confirmation
// window at T = 400 ms), through the membership
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
	require.Less(t, elapsed, 250*time.Millisecond+slack, "detected after %v (%s): the crash bound is 250 ms", elapsed, le.Reason)
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
	le, childPID := lostByFault(t, tc, c, "a", func() { tc.Stop("a") })
	t.Logf("hang detected: %v", le)
	require.True(t, alive(childPID), "the actor lives on, stopped, on its host")
	cont := time.Now()
	tc.Cont("a")
	gone := goneWithin(t, childPID, time.Second+200*time.Millisecond+slack)
	t.Logf("orphan gone %v after SIGCONT", gone.Sub(cont))
}

// lostByFault spawns an actor on host h, and once a call has answered
// applies fault (a hang, a partition) while a call is in flight: the call
// and the actor's task must fail with a HostLostError of the heartbeat,
// within (¾T, 1¼T] + 50 ms (+ slack). It returns the error and the actor's
// pid.
func lostByFault(t *testing.T, tc *clustertest.Cluster, c *cluster.Cluster, h string, fault func()) (*actor.HostLostError, int) {
	t.Helper()
	T := tc.DeadInterval()
	var start time.Time
	var childPID int
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "cutoff", actor.OnHost(c.Host(h)), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		childPID = ref.PID()
		_, err = pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		start = time.Now()
		fault()
		_, err = block.Call(ctx, ref, struct{}{})
		return err
	})
	elapsed := time.Since(start)
	var le *actor.HostLostError
	require.ErrorAs(t, err, &le)
	require.Equal(t, h, le.Host)
	require.Equal(t, "silent", le.Reason)
	require.Greater(t, elapsed, 3*T/4)
	require.Less(t, elapsed, 5*T/4+50*time.Millisecond+slack)
	return le, childPID
}

// A partitioned host: both sides give up on their own, the caller within
// the heartbeat's bound, the agent by killing the actor within
// B = 1¼T + OrphanGrace of the partition; the other host's membership
// watcher reports it down; after Heal it is back up (it announces itself
// again) and serves new spawns, while nothing of the old link resumes.
func TestRemotePartition(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a", "b"))
	tc.Agent(t, "a")
	tc.Agent(t, "b")
	c := tc.Client(t)
	T := tc.DeadInterval()
	down := make(chan struct{}, 1)
	sub, err := c.Conn().Subscribe("grove."+tc.Name()+".ev.hostdown.b", func(*nats.Msg) {
		select {
		case down <- struct{}{}:
		default:
		}
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	cut := time.Now()
	_, childPID := lostByFault(t, tc, c, "b", func() { tc.Partition("b") })
	goneWithin(t, childPID, time.Until(cut.Add(5*T/4+time.Second+slack)))
	select {
	case <-down:
	case <-time.After(4 * T):
		t.Fatal("the watcher of host a did not report host b down")
	}
	err = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := actor.Spawn(ctx, n, "refused", actor.OnHost(c.Host("b")))
		return err
	})
	require.ErrorIs(t, err, actor.ErrHostUnavailable, "a host known down is refused at once")
	require.ErrorContains(t, err, "is down")

	tc.Heal("b")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for { // the agent is back, serving new spawns
		err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "after", actor.OnHost(c.Host("b")), actor.WithOutput(&syncBuffer{}))
			if err != nil {
				return err
			}
			ref.Cancel()
			return nil
		})
		if err == nil {
			break
		}
		require.ErrorIs(t, err, actor.ErrHostUnavailable, "until the agent has reconnected")
		require.NoError(t, ctx.Err(), "the agent did not come back after Heal: %v", err)
		time.Sleep(20 * time.Millisecond) // its reconnection is not an event this process can wait on
	}
}

// More of the environment of the root program of TestRemoteParentKilled
// (envParent marks it).
const (
	envURLs = "CTEST_URLS"
	envSeed = "CTEST_SEED"
)

// runParent is a root program: it joins as the client, spawns an actor on
// host a, prints its pid and waits to be killed.
func runParent() int {
	ctx := context.Background()
	c, err := cluster.Join(ctx, cluster.Config{User: "client", URLs: strings.Split(os.Getenv(envURLs), ","),
		NKeySeed: []byte(os.Getenv(envSeed)), DeadInterval: clustertest.DefaultDeadInterval})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return exitCode(nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "abandoned", actor.OnHost(c.Host("a")))
		if err != nil {
			return err
		}
		fmt.Println(ref.PID())
		select {}
	}))
}

func exitCode(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// A root program SIGKILLed: its remote actor is gone within
// B = 1¼T + OrphanGrace (the agent hears nothing more on its link).
func TestRemoteParentKilled(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	cfg := tc.Config(embed.ClientUser)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envParent+"=1", envURLs+"="+strings.Join(cfg.URLs, ","), envSeed+"="+string(cfg.NKeySeed),
		"GROVE_CLUSTERTEST="+tc.ID(), "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the root program's actor's pid")
	childPID, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err)
	require.True(t, alive(childPID))
	killed := time.Now()
	require.NoError(t, cmd.Process.Kill())
	T := tc.DeadInterval()
	gone := goneWithin(t, childPID, 5*T/4+time.Second+slack)
	t.Logf("the orphan was gone %v after its parent's SIGKILL", gone.Sub(killed))
}

// A host that hangs while its actor is being stopped: the stop is no
// failure, but the nursery returns only once the actor is certainly dead
// (the fenced return, at the loss's DeadBy); the actor is in fact killed
// by its agent once it runs again.
func TestRemoteFencedStop(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	T := tc.DeadInterval()
	var stopped time.Time
	var childPID int
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "fenced", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}),
			actor.WithGrace(50*time.Millisecond), actor.WithKillDelay(50*time.Millisecond))
		if err != nil {
			return err
		}
		childPID = ref.PID()
		_, err = pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		tc.Stop("a")
		stopped = time.Now()
		ref.Cancel()
		return nil
	})
	elapsed := time.Since(stopped)
	require.NoError(t, err, "a host lost during a stop is no failure")
	fence := 5*T/4 + time.Second + T/4 // DeadBy after the last word heard, just before the stop
	require.Greater(t, elapsed, fence-50*time.Millisecond, "the nursery returned before the fence")
	require.Less(t, elapsed, fence+slack+time.Second)
	tc.Cont("a")
	goneWithin(t, childPID, time.Second+200*time.Millisecond+slack)
}

// A host that crashed and restarts is up again in the view (its new
// incarnation announced), and a late report of its old incarnation's loss
// does not down the new one.
func TestRemoteHostRestart(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a", "b", "zz"))
	tc.Agent(t, "a")
	tc.Agent(t, "b")
	c := tc.Client(t)
	incarnation := func() string {
		m, err := c.Conn().Request("grove."+tc.Name()+".host.b.ping", nil, 2*time.Second)
		require.NoError(t, err)
		var rec struct{ Incarnation string }
		require.NoError(t, json.Unmarshal(m.Data, &rec))
		return rec.Incarnation
	}
	spawnOnB := func() error {
		return nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "w", actor.OnHost(c.Host("b")), actor.WithOutput(&syncBuffer{}))
			if err != nil {
				return err
			}
			ref.Cancel()
			return nil
		})
	}
	// A connection that may report hosts down and announce host zz (as
	// zz's agent, which runs nothing), joined now: a join surveys the
	// hosts, and their answers would hide the late report below.
	other := tc.Join(t, tc.Config(embed.AgentUser("zz")))
	old := incarnation()
	down := make(chan struct{}, 4)
	sub, err := c.Conn().Subscribe("grove."+tc.Name()+".ev.hostdown.b", func(*nats.Msg) { down <- struct{}{} })
	require.NoError(t, err)
	defer sub.Unsubscribe()
	tc.Kill("b")
	select {
	case <-down:
	case <-time.After(2 * time.Second):
		t.Fatal("host b's crash was not reported")
	}
	// The view's handler runs on its own subscription's goroutine.
	require.Eventually(t, func() bool { return strings.Contains(fmt.Sprint(spawnOnB()), "is down") }, time.Second, 5*time.Millisecond)

	tc.Agent(t, "b")
	require.NotEqual(t, old, incarnation())
	require.NoError(t, spawnOnB(), "the restarted host is up in the view")

	require.NoError(t, other.Conn().Publish("grove."+tc.Name()+".ev.hostdown.b",
		[]byte(`{"host":"b","incarnation":"`+old+`","reason":"late"}`)))
	// A probe host announced after it: once the view has it, it has
	// handled the late report too (one subscription, in order).
	require.NoError(t, other.Conn().Publish("grove."+tc.Name()+".ev.hostup.zz",
		[]byte(`{"host":"zz","incarnation":"x","build":"`+actor.BuildID()+`","labels":{"probe":"1"}}`)))
	require.NoError(t, other.Conn().Flush())
	probe := func() bool {
		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			_, err := actor.Spawn(ctx, n, "p", actor.OnHost(c.Any(cluster.Where("probe", "1"))))
			return err
		})
		return strings.Contains(fmt.Sprint(err), "no agent answers")
	}
	require.Eventually(t, probe, time.Second, 5*time.Millisecond)
	require.NoError(t, spawnOnB(), "a late report of the old incarnation does not down the new one")
}

// A reset of a host agent's connection (it reconnects within its
// reconnect wait) is no crash: the other agents' watchers confirm over a
// window longer than the reconnection, no call fails, the link resumes
// and no host-down event is published.
func TestResetIsNotHostDown(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a", "b"))
	tc.Agent(t, "a")
	tc.Agent(t, "b")
	c := tc.Client(t)
	down := make(chan string, 4)
	sub, err := c.Conn().Subscribe("grove."+tc.Name()+".ev.hostdown.a", func(m *nats.Msg) {
		select {
		case down <- string(m.Data):
		default:
		}
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, c.Conn().Flush())
	err = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(c.Host("a")))
		if err != nil {
			return err
		}
		_, err = pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		tc.Reset("a")
		until := time.Now().Add(time.Second) // past any confirmation window
		for i := 0; i < 1000 && time.Now().Before(until); i++ {
			_, err = pid.Call(ctx, ref, struct{}{})
			require.NoError(t, err, "call %d after the reset", i)
		}
		select {
		case ev := <-down:
			t.Fatalf("host a reported down after a reset: %s", ev)
		default:
		}
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
}

// An orphan that does not read its socket (stopped) is killed all the
// same once its parent's link ends: the agent's relay into the actor is
// blocked, and the link's end alone is the news.
func TestOrphanNotReadingIsKilled(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cluster.Join(ctx, tc.Config(embed.ClientUserOf("1")))
	require.NoError(t, err)
	var actorPID int
	_ = nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "deaf", actor.OnHost(c.Host("a")))
		if err != nil {
			return err
		}
		actorPID = ref.PID()
		d, err := upper.Open(ctx, ref)
		require.NoError(t, err)
		d.In <- "abc"
		require.Equal(t, "ABC", <-d.Out)
		require.NoError(t, syscall.Kill(actorPID, syscall.SIGSTOP))
		big := strings.Repeat("x", 256<<10)
		full := make(chan struct{})
		go func() { // fills the actor's socket and the link's window
			defer close(full)
			defer close(d.In)
			for range 64 {
				select {
				case d.In <- big:
				case <-time.After(300 * time.Millisecond): // blocked: the relay is stuck
					return
				}
			}
		}()
		<-full
		require.NoError(t, c.Close()) // the parent's link goes silent
		return nil
	})
	require.NotZero(t, actorPID)
	defer syscall.Kill(actorPID, syscall.SIGKILL) // a survivor, after the failure
	bound := time.Now().Add(tc.DeadInterval() + cluster.DefaultOrphanGrace + 2*time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for syscall.Kill(actorPID, 0) == nil {
		require.True(t, time.Now().Before(bound), "the orphan %d still runs", actorPID)
		<-tick.C
	}
}
