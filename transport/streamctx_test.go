//go:build unix

package transport_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

type baseKey struct{}

var errBaseGone = errors.New("the server is stopping")

// TestStreamContext checks the served stream's context: it carries the base
// context's values, and ends, with a cause that says why, when the caller
// cancels, when the connection ends, when the base context ends (the
// connection stays up), once the stream is answered, and once its handler
// has returned; without a goroutine per stream to watch for any of it.
func TestStreamContext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// act ends the call's context, from the caller's side; cancelBase
		// cancels the base context.
		act   func(a *transport.Conn, s *transport.Stream, cancelBase context.CancelCauseFunc)
		cause error
	}{
		{"the caller cancels", func(a *transport.Conn, s *transport.Stream, _ context.CancelCauseFunc) {
			_ = s.Cancel(context.Background())
		}, transport.ErrCanceled},
		{"the connection ends", func(a *transport.Conn, _ *transport.Stream, _ context.CancelCauseFunc) {
			a.Close()
		}, transport.ErrClosed},
		{"the base context ends", func(_ *transport.Conn, _ *transport.Stream, cancelBase context.CancelCauseFunc) {
			cancelBase(errBaseGone)
		}, errBaseGone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, cancelBase := context.WithCancelCause(context.WithValue(context.Background(), baseKey{}, "base"))
			defer cancelBase(nil)
			got := make(chan error, 1)
			a, _ := connPair(t, nil, []transport.Option{transport.WithBaseContext(base),
				transport.WithHandler(func(s *transport.Stream) {
					ctx := s.Context()
					if ctx.Value(baseKey{}) != "base" {
						got <- errors.New("the base context's value is missing")
						return
					}
					select {
					case <-ctx.Done():
						got <- context.Cause(ctx)
					case <-time.After(10 * time.Second):
						got <- errors.New("the stream's context did not end within 10 s")
					}
					_ = s.Return(context.Background(), nil) // the connection is still up unless it was closed
				})})
			s, err := a.Call(context.Background(), "wait", nil)
			require.NoError(t, err)
			tc.act(a, s, cancelBase)
			require.ErrorIs(t, <-got, tc.cause)
			if !errors.Is(tc.cause, transport.ErrClosed) {
				m, err := s.Recv(context.Background())
				require.NoError(t, err, "the connection serves on")
				require.Equal(t, transport.KindReturn, m.Kind)
			}
		})
	}

	t.Run("answered or returned", func(t *testing.T) {
		t.Parallel()
		answered := make(chan [2]error, 1)
		left := make(chan context.Context, 1)
		a, _ := connPair(t, nil, []transport.Option{transport.WithHandler(func(s *transport.Stream) {
			if s.Func() == "leave" { // returns without an answer: its context ends all the same
				left <- s.Context()
				return
			}
			before := s.Context().Err()
			_ = s.Return(context.Background(), nil)
			answered <- [2]error{before, s.Context().Err()}
		})})
		_, err := a.Call(context.Background(), "answer", nil)
		require.NoError(t, err)
		errs := <-answered
		require.NoError(t, errs[0], "alive while the call is served")
		require.ErrorIs(t, errs[1], context.Canceled, "ended once answered")

		_, err = a.Call(context.Background(), "leave", nil)
		require.NoError(t, err)
		ctx := <-left
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the stream's context did not end within 10 s of its handler's return")
		}
		require.ErrorIs(t, ctx.Err(), context.Canceled)
	})
}
