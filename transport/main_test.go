//go:build unix

package transport_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/transport"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(peerEnv); mode != "" {
		os.Exit(runPeer(mode))
	}
	leakcheck.Main(m)
}

// connPair returns two connected Conns over an in-process socketpair,
// closed when the test ends.
func connPair(t testing.TB, aOpts, bOpts []transport.Option) (a, b *transport.Conn) {
	t.Helper()
	fa, fb, err := transport.Pair()
	require.NoError(t, err)
	ctx := context.Background()
	var wg sync.WaitGroup
	var errB error
	wg.Add(1)
	go func() {
		defer wg.Done()
		b, errB = transport.FileConn(ctx, fb, transport.Responder, bOpts...)
	}()
	a, errA := transport.FileConn(ctx, fa, transport.Initiator, aOpts...)
	wg.Wait()
	require.NoError(t, errA)
	require.NoError(t, errB)
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// serve answers every call on c with fn until c ends.
func serve(c *transport.Conn, fn func(s *transport.Stream)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			s, err := c.Accept(ctx)
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(s)
			}()
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
