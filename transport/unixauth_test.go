//go:build unix

package transport_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// unixPath is a socket path in a fresh private directory.
func unixPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "private", "grove.sock")
}

// TestUnixSecret: a Unix listener with a secret serves the dialers that
// prove it, and fails with ErrAuth, on both sides, a dialer with another
// secret, a dialer without one, and a dialer with one at a listener
// without; the listener reports each to its reject hook and keeps serving.
func TestUnixSecret(t *testing.T) {
	t.Parallel()
	other := []byte("another-secret-of-enough-length")
	cases := []struct {
		name           string
		listen, dial   []byte // the secrets; nil: none
		want           string // in both errors; "" when the dial succeeds
		dialer, server string // in the dialer's and the listener's error
	}{
		{name: "the same secret", listen: secret, dial: secret},
		{name: "a wrong secret", listen: secret, dial: other,
			dialer: "wrong secret", server: "does not know the shared secret"},
		{name: "no secret at a listener with one", listen: secret,
			want: "WithSecret", dialer: "the listener must require a shared secret", server: "the dialer has no secret"},
		{name: "a secret at a listener without", dial: secret,
			want: "WithSecret", dialer: "the listener has no secret", server: "the dialer must be proving a shared secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := unixPath(t)
			r := newRejects()
			opts := []transport.Option{transport.WithRejectHook(r.hook)}
			if tc.listen != nil {
				opts = append(opts, transport.WithSecret(tc.listen))
			}
			l, err := transport.ListenUnix(path, opts...)
			require.NoError(t, err)
			serveListener(t, l)
			dial := func(s []byte) (*transport.Conn, error) {
				var opts []transport.Option
				if s != nil {
					opts = append(opts, transport.WithSecret(s))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return transport.DialUnix(ctx, path, opts...)
			}

			c, err := dial(tc.dial)
			if tc.dialer == "" {
				require.NoError(t, err)
				defer c.Close()
				callEcho(t, c)
				return
			}
			require.ErrorIs(t, err, transport.ErrAuth, "the dialer learns it was refused")
			require.ErrorIs(t, err, transport.ErrHandshake)
			require.ErrorContains(t, err, tc.dialer)
			require.ErrorContains(t, err, tc.want)
			rejected := r.wait(t)
			require.ErrorIs(t, rejected, transport.ErrAuth, "the listener reports the refusal")
			require.ErrorContains(t, rejected, tc.server)
			require.ErrorContains(t, rejected, tc.want)

			c, err = dial(tc.listen) // the listener's own secret, or none
			require.NoError(t, err, "the listener keeps serving")
			defer c.Close()
			callEcho(t, c)
		})
	}
}

// TestUnixSecretTooShort: a secret too short to guard anything, an empty
// one included, is refused at listen and at dial, before any socket.
func TestUnixSecretTooShort(t *testing.T) {
	t.Parallel()
	for _, s := range [][]byte{[]byte("short"), {}} {
		path := unixPath(t)
		_, err := transport.ListenUnix(path, transport.WithSecret(s))
		require.ErrorContains(t, err, "at least 16 bytes (WithSecret)")
		_, err = os.Stat(filepath.Dir(path))
		require.ErrorIs(t, err, os.ErrNotExist, "nothing was created")
		_, err = transport.DialUnix(context.Background(), path, transport.WithSecret(s))
		require.ErrorContains(t, err, "at least 16 bytes (WithSecret)")
	}
}

// TestUnixSecretAuthTimeout: with a secret, a Unix dialer that sends its
// preface and then nothing has not authenticated: it is dropped at the
// auth timeout, not at the handshake timeout.
func TestUnixSecretAuthTimeout(t *testing.T) {
	t.Parallel()
	path := unixPath(t)
	r := newRejects()
	l, err := transport.ListenUnix(path, transport.WithSecret(secret), transport.WithRejectHook(r.hook),
		transport.WithAuthTimeout(100*time.Millisecond))
	require.NoError(t, err)
	serveListener(t, l)
	raw, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer raw.Close()
	start := time.Now()
	_, err = raw.Write([]byte(transport.Preface))
	require.NoError(t, err)
	err = r.wait(t)
	require.Less(t, time.Since(start), transport.DefaultHandshakeTimeout/2, "dropped at the auth timeout")
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.ErrorContains(t, err, "did not authenticate")
}

// TestUnixSecretEvictsSilentClients: with a secret, Unix dialers that sent
// their preface and went silent are unauthenticated, so when they fill
// every slot of the listener the gate evicts them to let in a dialer that
// knows the secret, long before the auth timeout would drop them, as over
// TCP.
func TestUnixSecretEvictsSilentClients(t *testing.T) {
	t.Parallel()
	const slots = 128 // the Listener's bound on handshakes
	path := unixPath(t)
	var evicted atomic.Int64
	var once sync.Once
	firstEvicted := make(chan struct{})
	l, err := transport.ListenUnix(path, transport.WithSecret(secret),
		transport.WithAuthTimeout(10*time.Second), transport.WithHandshakeTimeout(20*time.Second),
		transport.WithRejectHook(func(_ net.Addr, err error) {
			if errors.Is(err, transport.ErrEvicted) {
				evicted.Add(1)
				once.Do(func() { close(firstEvicted) })
			}
		}))
	require.NoError(t, err)
	serveListener(t, l)
	for range slots {
		raw, err := net.Dial("unix", path)
		require.NoError(t, err)
		defer raw.Close()
		_, err = raw.Write([]byte(transport.Preface))
		require.NoError(t, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // half the auth timeout
	defer cancel()
	c, err := transport.DialUnix(ctx, path, transport.WithSecret(secret))
	require.NoError(t, err, "a silent client was evicted to let the dialer in")
	defer c.Close()
	callEcho(t, c)
	select {
	case <-firstEvicted:
	case <-ctx.Done():
		t.Fatal("no silent client was reported evicted")
	}
	require.GreaterOrEqual(t, evicted.Load(), int64(1))
}

// TestStreamPeer: a handler learns from Stream.Peer who called it, with
// the role and identity the dialer announced.
func TestStreamPeer(t *testing.T) {
	t.Parallel()
	path := unixPath(t)
	peers := make(chan transport.Hello, 1)
	l, err := transport.ListenUnix(path, transport.WithSecret(secret),
		transport.WithIdentity(transport.ActorID{Name: "host", ID: "h1", PID: os.Getpid()}, "peer-host"),
		transport.WithHandler(func(s *transport.Stream) {
			peers <- s.Peer()
			_ = s.Return(context.Background(), nil)
		}))
	require.NoError(t, err)
	accepted := make(chan *transport.Conn, 1)
	go func() {
		c, err := l.Accept(context.Background())
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	defer func() {
		l.Close()
		if c := <-accepted; c != nil {
			c.Close()
		}
	}()

	me := transport.ActorID{Name: "caller", ID: "c1", PID: os.Getpid()}
	ctx := context.Background()
	c, err := transport.DialUnix(ctx, path, transport.WithSecret(secret), transport.WithIdentity(me, "peer:cache"))
	require.NoError(t, err)
	defer c.Close()
	s, err := c.Call(ctx, "who", nil)
	require.NoError(t, err)
	_, err = s.Recv(ctx)
	require.NoError(t, err)
	got := <-peers
	require.Equal(t, "peer:cache", got.Role)
	require.Equal(t, me, got.Actor)
	require.True(t, got.Initiator, "the dialer is the initiator")
	require.Equal(t, c.Local(), got, "the handler sees the Hello the dialer sent")
}

// TestUnixPeerGoneIsNotAnAuthFailure: a listener that goes away after its
// preface, without sending anything in place of its Hello (it died), fails
// the dial as a peer gone, not as a secret the dialer lacks.
func TestUnixPeerGoneIsNotAnAuthFailure(t *testing.T) {
	t.Parallel()
	path := unixPath(t)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = c.Write([]byte(transport.Preface))
			c.Close()
		}
		served <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = transport.DialUnix(ctx, path)
	require.Error(t, err)
	require.NoError(t, <-served)
	require.NotErrorIs(t, err, transport.ErrAuth, "a peer that died is not a missing secret: %v", err)
	require.True(t, transport.PeerGone(err), "the dial's error says the peer went away: %v", err)
}
