package clustertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/cluster/embed"
)

// serve answers requests on subj with "pong" on c's connection.
func serve(t *testing.T, c *cluster.Cluster, subj string) {
	t.Helper()
	sub, err := c.Conn().Subscribe(subj, func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, c.Conn().Flush())
}

// answered reports whether a request on subj is answered within wait,
// retrying no-responders (interest reaches the other servers a moment
// after a subscription) until then.
func answered(nc *nats.Conn, subj string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		_, err := nc.Request(subj, nil, time.Until(deadline))
		if err == nil || !errors.Is(err, nats.ErrNoResponders) || !time.Now().Before(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// disconnectEvent is the part of the servers' $SYS DISCONNECT advisory
// the tests read.
type disconnectEvent struct {
	Client struct {
		Name string `json:"name"`
	} `json:"client"`
	Reason string `json:"reason"`
}

// A partition of host a's proxy stops its traffic both ways with the
// sockets open: requests to its agent go unanswered, the agent's client
// and the server each find the connection stale within about 1½T (server
// and client ping every T/2, two may be outstanding), the system account
// sees the server's DISCONNECT "Stale Connection"; after Heal the agent
// reconnects through the proxy and answers again.
func TestPartitionAndHeal(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t)
	T := tc.DeadInterval()
	slack := 400 * time.Millisecond

	sys := tc.Join(t, tc.Config(embed.SysUser))
	events := make(chan disconnectEvent, 16)
	_, err := sys.Conn().Subscribe("$SYS.ACCOUNT.*.DISCONNECT", func(m *nats.Msg) {
		var ev disconnectEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			events <- ev
		}
	})
	require.NoError(t, err)
	require.NoError(t, sys.Conn().Flush())

	agent := tc.Join(t, tc.Config(embed.AgentUser("a")))
	require.Equal(t, tc.ProxyURL("a"), agent.Conn().ConnectedUrl(), "the agent reaches its server through its proxy")
	stale := make(chan error, 4)
	agent.Conn().SetDisconnectErrHandler(func(_ *nats.Conn, err error) { stale <- err })
	reconnected := make(chan struct{}, 4)
	agent.Conn().SetReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} })
	ping := "grove." + tc.Name() + ".host.a.ping"
	serve(t, agent, ping)
	client := tc.Client(t)
	require.NoError(t, answered(client.Conn(), ping, 2*time.Second))

	start := time.Now()
	tc.Partition("a")
	require.ErrorIs(t, answered(client.Conn(), ping, T/2), nats.ErrTimeout, "a partitioned agent does not answer")

	select {
	case err := <-stale:
		require.ErrorIs(t, err, nats.ErrStaleConnection)
		require.Less(t, time.Since(start), 3*T/2+slack, "the agent's client finds its connection stale")
	case <-time.After(3*T/2 + slack):
		t.Fatalf("the agent's client did not find its connection stale within 1½T + %v", slack)
	}
	deadline := time.After(3*T/2 + slack)
	for found := false; !found; {
		select {
		case ev := <-events:
			if strings.HasSuffix(ev.Client.Name, " "+embed.AgentUser("a")) {
				require.Equal(t, "Stale Connection", ev.Reason)
				found = true
			}
		case <-deadline:
			t.Fatalf("no DISCONNECT of agent-a within 1½T + %v of the partition", slack)
		}
	}

	tc.Heal("a")
	select {
	case <-reconnected:
	case <-time.After(3 * time.Second): // one connect timeout (2 s) and a retry
		t.Fatal("the agent did not reconnect within 3 s of the heal")
	}
	require.NoError(t, answered(client.Conn(), ping, 2*time.Second), "a healed agent answers again")
}

// Reset closes the sockets through the proxy: the agent sees its
// connection end and reconnects at once.
func TestReset(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("x"))
	agent := tc.Join(t, tc.Config(embed.AgentUser("x")))
	lost := make(chan error, 4)
	agent.Conn().SetDisconnectErrHandler(func(_ *nats.Conn, err error) { lost <- err })
	reconnected := make(chan struct{}, 4)
	agent.Conn().SetReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} })
	tc.Reset("x")
	select {
	case err := <-lost:
		require.Error(t, err, "the connection ended under the agent")
	case <-time.After(2 * time.Second):
		t.Fatal("the agent did not see the reset within 2 s")
	}
	select {
	case <-reconnected:
	case <-time.After(2 * time.Second):
		t.Fatal("the agent did not reconnect within 2 s of the reset")
	}
	require.True(t, agent.Conn().IsConnected())
}

// An agent's environment carries what it needs to join through its
// host's proxy, and the cluster's ID for the sweep.
func TestAgentEnv(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(2), clustertest.DeadInterval(time.Second), clustertest.Hosts("a", "b"))
	env := map[string]string{}
	for _, kv := range tc.AgentEnv("b") {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, kv)
		env[k] = v
	}
	require.Equal(t, tc.ID(), env["GROVE_CLUSTERTEST"])
	host, cfg, core, err := clustertest.ConfigFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Nil(t, core)
	require.Equal(t, "b", host)
	require.Equal(t, tc.Config(embed.AgentUser("b")), cfg)
	require.Equal(t, []string{tc.ProxyURL("b")}, cfg.URLs)
	require.Equal(t, time.Second, cfg.DeadInterval)
	c := tc.Join(t, cfg)
	require.Equal(t, tc.ProxyURL("b"), c.Conn().ConnectedUrl())

	_, _, _, err = clustertest.ConfigFromEnv(func(string) string { return "" })
	require.ErrorContains(t, err, "not started with Cluster.AgentEnv")
	require.PanicsWithValue(t, `clustertest: no host "z" in this cluster: it has [a b] (clustertest.Hosts)`, func() { tc.Partition("z") })
}

// The sweep finds a process carrying the cluster's ID in its environment,
// and kills it when it outlives the grace.
func TestSweep(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("needs /proc")
	}
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1))
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), tc.AgentEnv("a")...)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	require.Equal(t, []int{cmd.Process.Pid}, clustertest.Marked(tc.ID(), nil))
	require.Empty(t, clustertest.Marked("0000000000000000", nil), "another cluster's ID")

	require.Equal(t, []int{cmd.Process.Pid}, clustertest.Sweep(tc.ID(), nil, 50*time.Millisecond))
	select {
	case err := <-exited:
		require.ErrorContains(t, err, "killed")
	case <-time.After(5 * time.Second):
		t.Fatal("the swept process did not die within 5 s")
	}
	require.Empty(t, clustertest.Marked(tc.ID(), nil))
	require.Empty(t, clustertest.Sweep(tc.ID(), nil, time.Second))
}

// Start fails on options the servers refuse; Client joins with the client
// user's credentials.
func TestClient(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1))
	c := tc.Client(t)
	require.Equal(t, tc.URL(0), c.Conn().ConnectedUrl())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, c.Conn().FlushWithContext(ctx))
}
