package embed_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/embed"
)

func start(t *testing.T, opts embed.Options) *embed.Servers {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := embed.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	return s
}

func TestStartRoutesAFullMesh(t *testing.T) {
	t.Parallel()
	s := start(t, embed.Options{Hosts: []string{"a", "b"}})
	require.Equal(t, 3, s.Len())
	require.Equal(t, "grove", s.Name())
	seen := map[string]bool{}
	for i := range s.Len() {
		require.Equal(t, 2, s.Server(i).NumRemotes(), "server %d", i)
		require.True(t, strings.HasPrefix(s.URL(i), "nats://127.0.0.1:"), s.URL(i))
		seen[s.URL(i)] = true
	}
	require.Len(t, seen, 3)
	require.Equal(t, s.URLs()[1], s.URL(1))
	for _, name := range []string{embed.ClientUser, embed.SysUser, embed.AgentUser("a"), embed.AgentUser("b")} {
		u, err := s.User(name)
		require.NoError(t, err)
		require.Equal(t, name, u.Name)
		require.True(t, strings.HasPrefix(string(u.Seed), "SU"), name)
		require.True(t, strings.HasPrefix(u.PublicKey, "U"), name)
	}
	_, err := s.User("agent-z")
	require.ErrorContains(t, err, `embed: no user "agent-z"`)
	s.Shutdown()
	s.Shutdown() // idempotent
}

func TestStartRefusesBadOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts embed.Options
		want string
	}{
		{"negative servers", embed.Options{Servers: -1}, "Options.Servers is -1"},
		{"bad name", embed.Options{Name: "a.b"}, `Options.Name "a.b" must be`},
		{"bad host", embed.Options{Hosts: []string{"A"}}, `host "A" must be`},
		{"duplicate host", embed.Options{Hosts: []string{"a", "a"}}, "names agent-a twice"},
		{"jetstream without a directory", embed.Options{JetStream: true}, "needs Options.StoreDir"},
		{"negative dead interval", embed.Options{DeadInterval: -time.Second}, "must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := embed.Start(context.Background(), tc.opts)
			require.Nil(t, s)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestStartHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := embed.Start(ctx, embed.Options{})
	require.Nil(t, s)
	require.ErrorIs(t, err, context.Canceled)
}

// An unauthenticated connection to a client or route port learns nothing
// but the server's INFO and is closed when the auth timeout expires.
func TestUnauthenticatedConnectionIsClosedWithinAuthTimeout(t *testing.T) {
	t.Parallel()
	const authTimeout = 300 * time.Millisecond
	s := start(t, embed.Options{Servers: 2, AuthTimeout: authTimeout})
	ports := map[string]string{
		"client": strings.TrimPrefix(s.URL(0), "nats://"),
		"route":  s.Server(1).ClusterAddr().String(),
	}
	for name, addr := range ports {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			require.NoError(t, conn.SetDeadline(start.Add(authTimeout+2*time.Second)))
			r := bufio.NewReader(conn)
			info, err := r.ReadString('\n')
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(info, "INFO "), info)
			require.Contains(t, info, `"auth_required":true`)
			rest, err := io.ReadAll(r) // until the server closes
			require.NoError(t, err, "the server must close the connection, not let it time out here")
			elapsed := time.Since(start)
			require.Contains(t, string(rest), "-ERR 'Authentication Timeout'")
			require.GreaterOrEqual(t, elapsed, authTimeout*8/10)
			require.Less(t, elapsed, authTimeout+500*time.Millisecond)
		})
	}
}

// Three core hosts each start their own server from the one Deployment,
// the first before the others exist: they route to each other, a user
// whose public key it lists is served on any of them (and messages cross
// the routes), and the servers hold no seed.
func TestStartServerFromADeployment(t *testing.T) {
	t.Parallel()
	core, err := embed.LoopbackCore("a", "b", "c")
	require.NoError(t, err)
	require.Len(t, core, 3)
	d, users, err := embed.NewDeployment("", []string{"a", "b", "c", "d"}, core)
	require.NoError(t, err)
	require.Equal(t, "grove", d.Name)
	require.Len(t, d.Users, 6)
	require.Equal(t, users[embed.AgentUser("d")].PublicKey, d.Users[embed.AgentUser("d")])
	require.Equal(t, []string{"nats://" + core["a"].Client, "nats://" + core["b"].Client, "nats://" + core["c"].Client}, d.URLs())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var servers []*embed.Servers
	for _, h := range []string{"a", "b", "c"} {
		s, err := embed.StartServer(ctx, embed.ServerOptions{Deployment: d, Host: h, DeadInterval: time.Second})
		require.NoError(t, err, h)
		t.Cleanup(s.Shutdown)
		require.Equal(t, "nats://"+core[h].Client, s.URL(0))
		servers = append(servers, s)
	}
	_, err = servers[0].User(embed.ClientUser)
	require.ErrorContains(t, err, "holds no user's seed")
	require.Eventually(t, func() bool {
		for _, s := range servers {
			if s.Server(0).NumRemotes() != 2 {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "the core servers route to each other")

	sub := connectAs(t, d.URLs()[0], users[embed.ClientUser])
	pub := connectAs(t, d.URLs()[2], users[embed.AgentUser("d")])
	s, err := sub.SubscribeSync("grove.grove.ev.hostup.d")
	require.NoError(t, err)
	require.NoError(t, sub.Flush())
	require.Eventually(t, func() bool {
		_ = pub.Publish("grove.grove.ev.hostup.d", []byte("up"))
		_, err := s.NextMsg(10 * time.Millisecond)
		return err == nil
	}, 5*time.Second, time.Millisecond, "an agent's event on server c reaches a client of server a")
}

func TestStartServerRefusesBadOptions(t *testing.T) {
	t.Parallel()
	d, _, err := embed.NewDeployment("", nil, map[string]embed.CoreAddrs{"a": {Client: "127.0.0.1:0", Route: "nowhere"}})
	require.NoError(t, err)
	cases := []struct {
		name string
		opts embed.ServerOptions
		want string
	}{
		{"not a core host", embed.ServerOptions{Deployment: d, Host: "z"}, `Host "z" is not a core host of the Deployment (it has [a])`},
		{"bad address", embed.ServerOptions{Deployment: d, Host: "a"}, `the route address "nowhere"`},
		{"no route password", embed.ServerOptions{Deployment: embed.Deployment{Core: map[string]embed.CoreAddrs{"a": {Client: "127.0.0.1:0", Route: "127.0.0.1:0"}}}, Host: "a"}, "has no RoutePassword"},
		{"jetstream without a directory", embed.ServerOptions{Deployment: d, Host: "a", JetStream: true}, "ServerOptions.JetStream needs ServerOptions.StoreDir"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := embed.StartServer(context.Background(), tc.opts)
			require.Nil(t, s)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// connectAs connects to url as user u, closed when the test ends.
func connectAs(t *testing.T, url string, u embed.User) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Nkey(u.PublicKey, func(nonce []byte) ([]byte, error) {
		kp, err := nkeys.FromSeed(u.Seed)
		if err != nil {
			return nil, err
		}
		return kp.Sign(nonce)
	}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// LoopbackCore never hands out one port twice in a call: each listener it
// opened to find a free port stays open until all are found.
func TestLoopbackCorePortsAreDistinct(t *testing.T) {
	t.Parallel()
	hosts := make([]string, 64)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d", i)
	}
	core, err := embed.LoopbackCore(hosts...)
	require.NoError(t, err)
	seen := map[string]bool{}
	for h, a := range core {
		for _, addr := range []string{a.Client, a.Route} {
			require.False(t, seen[addr], "%s: %s handed out twice", h, addr)
			seen[addr] = true
		}
	}
	require.Len(t, seen, 2*len(hosts))
}
