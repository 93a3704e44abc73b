package embed_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

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
