package natslink_test

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/natslink"
)

// testT is the dead interval of the tests; slack is what this 2-core box
// may add to a timer.
const (
	testT = 400 * time.Millisecond
	slack = 300 * time.Millisecond
)

// startServer starts an embedded nats-server on a loopback port (port -1:
// a free one), shut down when the test ends.
func startServer(tb testing.TB, port int) *server.Server {
	tb.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	require.NoError(tb, err)
	s.Start()
	require.True(tb, s.ReadyForConnections(5*time.Second), "nats-server did not start")
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// connect connects to url; resume, if set, is called after each reconnect.
func connect(tb testing.TB, url string, resume func()) *nats.Conn {
	tb.Helper()
	opts := []nats.Option{nats.ReconnectBufSize(-1), nats.MaxReconnects(-1), nats.ReconnectWait(20 * time.Millisecond)}
	if resume != nil {
		opts = append(opts, nats.ReconnectHandler(func(*nats.Conn) { resume() }))
	}
	nc, err := nats.Connect(url, opts...)
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	return nc
}

func subjects() (string, string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	return "test.link." + id + ".up", "test.link." + id + ".dn"
}

// pair returns two ends of one link, each on its own NATS connection to
// s, each resumed by its connection's reconnect handler, closed when the
// test ends. cfg's subjects are filled in.
func pair(tb testing.TB, s *server.Server, cfg natslink.Config) (a, b *natslink.Link) {
	tb.Helper()
	a, b, _ = pairConns(tb, s, cfg)
	return a, b
}

// pairConns is pair, and returns b's NATS connection too.
func pairConns(tb testing.TB, s *server.Server, cfg natslink.Config) (a, b *natslink.Link, ncb *nats.Conn) {
	tb.Helper()
	var la, lb atomic.Pointer[natslink.Link]
	resume := func(p *atomic.Pointer[natslink.Link]) func() {
		return func() {
			if l := p.Load(); l != nil {
				l.Resume()
			}
		}
	}
	nca := connect(tb, s.ClientURL(), resume(&la))
	ncb = connect(tb, s.ClientURL(), resume(&lb))
	up, dn := subjects()
	ca, cb := cfg, cfg
	ca.Send, ca.Recv = up, dn
	cb.Send, cb.Recv = dn, up
	a, err := natslink.New(nca, ca)
	require.NoError(tb, err)
	b, err = natslink.New(ncb, cb)
	require.NoError(tb, err)
	la.Store(a)
	lb.Store(b)
	// Subscriptions must reach the server before the first publish.
	require.NoError(tb, nca.Flush())
	require.NoError(tb, ncb.Flush())
	tb.Cleanup(func() { a.Close(); b.Close() })
	return a, b, ncb
}

// alone returns a link on its own connection to a new server with no
// peer: nothing acks what it sends.
func alone(tb testing.TB) *natslink.Link {
	tb.Helper()
	s := startServer(tb, -1)
	nc := connect(tb, s.ClientURL(), nil)
	up, dn := subjects()
	l, err := natslink.New(nc, natslink.Config{Send: up, Recv: dn, DeadInterval: testT})
	require.NoError(tb, err)
	tb.Cleanup(func() { l.Close() })
	return l
}
