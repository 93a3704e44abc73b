package cluster_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/cluster/embed"
)

// request sends a request until a responder answers: a subscription made
// on one server reaches the others' interest maps a moment later, and no
// client can wait on that, so no-responders is retried a bounded number
// of times.
func request(t *testing.T, nc *nats.Conn, subj string, data []byte) *nats.Msg {
	t.Helper()
	for range 200 {
		msg, err := nc.Request(subj, data, time.Second)
		if errors.Is(err, nats.ErrNoResponders) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		require.NoError(t, err, subj)
		return msg
	}
	t.Fatalf("no responder on %s after 200 tries", subj)
	return nil
}

// A client and an agent, each with its own credentials, on different
// servers: the client asks the agent's ping subject and gets the answer,
// which arrives in the client's private inbox.
func TestJoinRequestReply(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t)
	agent := tc.Join(t, tc.Config(embed.AgentUser("a")))
	client := tc.Client(t)
	require.True(t, client.Conn().IsConnected())

	ping := "grove." + tc.Name() + ".host.a.ping"
	inbox := make(chan string, 1)
	sub, err := agent.Conn().Subscribe(ping, func(m *nats.Msg) {
		inbox <- m.Reply
		_ = m.Respond(append([]byte("pong "), m.Data...))
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, agent.Conn().Flush())

	msg := request(t, client.Conn(), ping, []byte("1"))
	require.Equal(t, "pong 1", string(msg.Data))
	require.True(t, strings.HasPrefix(<-inbox, "_INBOX_"+embed.ClientUserOf("1")+"."), "replies go to the client's own inbox prefix")
}

// Join refuses a Config it cannot use before it dials, and credentials the
// servers do not know after, each with an error naming the fix.
func TestJoinRefuses(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1))
	stranger, err := nkeys.CreateUser()
	require.NoError(t, err)
	strangerSeed, err := stranger.Seed()
	require.NoError(t, err)

	good := tc.Config(embed.ClientUser)
	cases := []struct {
		name   string
		change func(*cluster.Config)
		is     []error
		says   string
	}{
		{"no credentials", func(c *cluster.Config) { c.NKeySeed = nil }, []error{cluster.ErrNoCredentials}, "set Config.NKeySeed"},
		{"an unknown nkey", func(c *cluster.Config) { c.NKeySeed = strangerSeed }, []error{cluster.ErrAuth, nats.ErrAuthorization}, "check Config.User and Config.NKeySeed"},
		{"not a seed", func(c *cluster.Config) { c.NKeySeed = []byte("SUxyz") }, nil, "Config.NKeySeed is not an nkey seed"},
		{"no user", func(c *cluster.Config) { c.User = "" }, nil, "Config.User is empty"},
		{"a bad user", func(c *cluster.Config) { c.User = "a.>" }, nil, `Config.User "a.>" must be`},
		{"no URLs", func(c *cluster.Config) { c.URLs = nil }, nil, "Config.URLs is empty"},
		{"a negative dead interval", func(c *cluster.Config) { c.DeadInterval = -1 }, nil, "Config.DeadInterval is -1ns"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			c.change(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			cl, err := cluster.Join(ctx, cfg)
			require.Nil(t, cl)
			require.ErrorContains(t, err, c.says)
			require.True(t, strings.HasPrefix(err.Error(), "cluster: "), err.Error())
			for _, target := range c.is {
				require.ErrorIs(t, err, target)
			}
			require.Less(t, time.Since(start), 2*time.Second, "a refusal is not retried")
		})
	}
}

// Join retries while no server answers, and stops when its context ends:
// at its deadline when nothing listens, at its cancel in the middle of a
// handshake with a server that never speaks.
func TestJoinHonoursContext(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1))

	t.Run("nothing listens", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		cfg := tc.Config(embed.ClientUser)
		cfg.URLs = []string{"nats://" + addr}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = cluster.Join(ctx, cfg)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "last attempt")
		require.Less(t, time.Since(start), 800*time.Millisecond)
	})
	t.Run("a server that never speaks", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
			close(accepted)
		}()
		cfg := tc.Config(embed.ClientUser)
		cfg.URLs = []string{"nats://" + ln.Addr().String()}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { _, err := cluster.Join(ctx, cfg); done <- err }()
		c, ok := <-accepted
		require.True(t, ok)
		defer c.Close()
		// The client's dial returns a moment after the accept, and it then
		// waits for the INFO line, of which it gets a part; nothing tells
		// the server that it is waiting, so the test gives it 100 ms.
		_, err = c.Write([]byte("INFO {"))
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(time.Second):
			t.Fatal("Join did not return within 1 s of its context's cancel")
		}
		require.Less(t, time.Since(start), 1500*time.Millisecond, "the connect timeout (2 s) must not be waited out")
	})
}

// Each user may use only the subjects of its role, and only its own: any
// other subscription or publication is a permission violation, and the
// connection stays.
func TestPermissions(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1))
	C := tc.Name()
	conns := map[string]*nats.Conn{}
	for _, user := range []string{embed.ClientUser, embed.AgentUser("a")} {
		conns[user] = tc.Join(t, tc.Config(user)).Conn()
	}
	cases := []struct {
		user, op, subj string
		allowed        bool
	}{
		{"client", "pub", "grove.C.host.b.spawn", true},
		{"client", "pub", "grove.C.host.b.ctl", true},
		{"client", "pub", "grove.C.link.a.client.L.up", true},
		{"client", "sub", "grove.C.link.a.client.L.dn", true},
		{"client", "sub", "grove.C.ev.hostdown.a", true},
		{"client", "sub", "_INBOX_client.x", true},
		{"client", "sub", "grove.C.host.a.spawn", false},       // serving spawns is an agent's
		{"client", "pub", "grove.C.link.a.other.L.up", false},  // another caller's link
		{"client", "sub", "grove.C.link.a.other.L.dn", false},  // reading another caller's link
		{"client", "pub", "grove.C.link.a.client.L.dn", false}, // the agent's direction
		{"client", "sub", "_INBOX_agent-a.x", false},           // another user's replies
		{"client", "pub", "grove.other.host.a.spawn", false},   // another cluster
		{"agent-a", "sub", "grove.C.host.a.spawn", true},
		{"agent-a", "sub", "grove.C.link.a.client.L.up", true},
		{"agent-a", "pub", "grove.C.link.a.client.L.dn", true},
		{"agent-a", "pub", "grove.C.host.b.ping", true},
		{"agent-a", "sub", "grove.C.host.b.spawn", false},       // another host's requests
		{"agent-a", "sub", "grove.C.link.b.client.L.up", false}, // another host's links
		{"agent-a", "pub", "grove.C.link.b.client.L.dn", false},
		{"agent-a", "pub", "grove.C.host.b.spawn", false}, // agents do not spawn elsewhere
		{"agent-a", "sub", "_INBOX_client.x", false},
		{"agent-a", "pub", "$SYS.REQ.SERVER.PING", false}, // not the system account
		{"agent-a", "pub", "grove.C.ev.hostup.a", true},
		{"agent-a", "pub", "grove.C.ev.survey", true},
		{"agent-a", "pub", "grove.C.ev.hostdown.b", true},    // the membership watcher's report (checked on receipt)
		{"agent-a", "pub", "grove.C.ev.hostup.b", false},     // another host's announcement
		{"agent-a", "pub", "grove.C.ev.clientdown.x", false}, // no other event
	}
	for _, c := range cases {
		subj := strings.Replace(c.subj, ".C.", "."+C+".", 1)
		nc := conns[c.user]
		before := nc.LastError()
		var err error
		var sub *nats.Subscription
		if c.op == "sub" {
			sub, err = nc.SubscribeSync(subj)
		} else {
			err = nc.Publish(subj, []byte("x"))
		}
		require.NoError(t, err)
		// The server answers the flush after the violation, if any, and
		// the client records a violation as its last error as it reads it.
		require.NoError(t, nc.Flush())
		verb := map[string]string{"pub": "Publish to", "sub": "Subscription to"}[c.op]
		if err := nc.LastError(); err != before {
			require.False(t, c.allowed, "%s %s %s: %v", c.user, c.op, subj, err)
			require.ErrorIs(t, err, nats.ErrPermissionViolation)
			require.ErrorContains(t, err, verb+` "`+subj+`"`)
		} else {
			require.True(t, c.allowed, "%s %s %s: no violation reported", c.user, c.op, subj)
		}
		if sub != nil {
			_ = sub.Unsubscribe()
		}
		require.True(t, nc.IsConnected(), "a violation does not cut the connection")
	}
}

// Close ends the connection and its goroutines (goleak checks them in
// TestMain); a second Close returns the first's result.
func TestCloseJoins(t *testing.T) {
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := cluster.Join(ctx, tc.Config(embed.ClientUser))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.True(t, c.Conn().IsClosed())
	require.NoError(t, c.Close())
}
