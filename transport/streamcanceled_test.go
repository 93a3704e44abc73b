//go:build unix

package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// TestCanceledWhenever: a stream makes its Canceled channel only when
// someone asks for it. Asked before the caller's Cancel, after it, or
// after the connection ended, the channel is closed once the cancel has
// happened, and stays open before.
func TestCanceledWhenever(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		early bool // ask for the channel before the end
		end   func(a, b *transport.Conn, s *transport.Stream)
	}{
		{"asked before the Cancel", true, func(_, _ *transport.Conn, s *transport.Stream) { _ = s.Cancel(context.Background()) }},
		{"asked after the Cancel", false, func(_, _ *transport.Conn, s *transport.Stream) { _ = s.Cancel(context.Background()) }},
		{"asked before the connection ends", true, func(a, _ *transport.Conn, _ *transport.Stream) { a.Close() }},
		{"asked after the connection ended", false, func(a, _ *transport.Conn, _ *transport.Stream) { a.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			served := make(chan *transport.Stream, 1)
			release := make(chan struct{})
			a, b := connPair(t, nil, []transport.Option{transport.WithHandler(func(s *transport.Stream) {
				served <- s
				select {
				case <-s.Context().Done(): // ends with the cancel, or the connection
				case <-release:
				}
				_ = s.Return(context.Background(), nil)
			})})
			defer close(release)
			s, err := a.Call(context.Background(), "wait", nil)
			require.NoError(t, err)
			callee := <-served
			var early <-chan struct{}
			if tc.early {
				early = callee.Canceled()
				select {
				case <-early:
					t.Fatal("Canceled is closed before any cancel")
				default:
				}
			}
			tc.end(a, b, s)
			<-callee.Context().Done()
			for _, ch := range []<-chan struct{}{early, callee.Canceled()} {
				if ch == nil {
					continue
				}
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					t.Fatal("Canceled was not closed within 10 s of the cancel")
				}
			}
		})
	}
}
