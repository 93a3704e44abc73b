//go:build unix

package grove_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// The tests that serve over a socketpair (transport.Pair), which GOOS=js
// has not.

// serveIn starts, as a child of n, a server on one end of a socketpair and
// returns the client's Conn once both handshakes are done. Cancelling the
// nursery closes both ends.
func serveIn(t *testing.T, n *nursery.Nursery, handler func(*transport.Stream)) *transport.Conn {
	t.Helper()
	local, remote, err := transport.Pair()
	require.NoError(t, err)
	n.Go(func(ctx context.Context) error {
		server, err := transport.FileConn(ctx, remote, transport.Responder, transport.WithHandler(handler))
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-server.Done():
		}
		return server.Close()
	})
	client, err := nursery.Start(n, func(ctx context.Context, started func(*transport.Conn)) error {
		c, err := transport.FileConn(ctx, local, transport.Initiator)
		if err != nil {
			return err
		}
		started(c)
		<-ctx.Done()
		return c.Close()
	})
	require.NoError(t, err)
	return client
}

// A call over the wire runs inside a nursery; cancelling the nursery
// cancels the remote handler through the stream and joins everything.
func TestNurseryCancelReachesAStreamHandler(t *testing.T) {
	t.Parallel()
	errStop := errors.New("stop")
	handlerSaw := make(chan struct{})
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		c := serveIn(t, n, func(s *transport.Stream) {
			for i := 0; ; i++ {
				if err := s.Yield(context.Background(), i); err != nil {
					// ErrCanceled: the caller canceled while we waited for credit.
					close(handlerSaw)
					_ = s.Fail(context.Background(), &transport.ErrorInfo{Type: "context.Canceled", Message: err.Error()})
					return
				}
			}
		})
		s, err := c.Call(ctx, "count", nil)
		if err != nil {
			return err
		}
		for range 100 {
			if _, err := s.Recv(ctx); err != nil {
				return err
			}
		}
		require.NoError(t, s.Cancel(ctx))
		<-handlerSaw
		n.Cancel(errStop) // a clean stop of the whole tree
		return nil
	})
	require.NoError(t, err)
}

// A failing call fails the nursery it runs in, and the error names the
// remote function's message.
func TestRemoteFailureFailsTheNursery(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		c := serveIn(t, n, func(s *transport.Stream) {
			_ = s.Fail(context.Background(), &transport.ErrorInfo{Type: "*errors.errorString", Message: "disk full"})
		})
		n.Go(func(ctx context.Context) error {
			s, err := c.Call(ctx, "write", "data")
			if err != nil {
				return err
			}
			m, err := s.Recv(ctx)
			if err != nil {
				return err
			}
			return errors.New("remote: " + m.Err.Message)
		})
		return nil
	})
	require.EqualError(t, err, "remote: disk full")
}
