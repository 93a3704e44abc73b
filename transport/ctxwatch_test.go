//go:build unix

package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// TestARepeatedCtxStillInterrupts: a caller's ctx is registered once to
// interrupt the reads and writes it waits in, and kept from one call to
// the next. A ctx used for earlier calls must still end a later Recv or a
// blocked write; so must a value ctx of it, a ctx that ended after its
// last wait (whose registration has fired), and another ctx after it.
func TestARepeatedCtxStillInterrupts(t *testing.T) {
	t.Parallel()
	type key struct{}
	cases := []struct {
		name string
		// later returns the ctx of the call that must be interrupted, and
		// the cancel that ends it, given the ctx of the earlier calls.
		later func(earlier context.Context, cancelEarlier context.CancelFunc) (context.Context, context.CancelFunc)
	}{
		{"the same ctx", func(earlier context.Context, cancel context.CancelFunc) (context.Context, context.CancelFunc) {
			return earlier, cancel
		}},
		{"a value ctx of it", func(earlier context.Context, cancel context.CancelFunc) (context.Context, context.CancelFunc) {
			return context.WithValue(earlier, key{}, 1), cancel
		}},
		{"another ctx after one that ended", func(earlier context.Context, cancel context.CancelFunc) (context.Context, context.CancelFunc) {
			cancel() // its registration fires with no wait under way
			return context.WithCancel(context.Background())
		}},
	}
	for _, tc := range cases {
		t.Run("Recv: "+tc.name, func(t *testing.T) {
			t.Parallel()
			blocked := make(chan struct{}, 16)
			a, _ := connPair(t, nil, []transport.Option{transport.WithHandler(func(s *transport.Stream) {
				if s.Func() == "hang" {
					<-s.Canceled()
				}
				_ = s.Return(context.Background(), nil)
			})})
			// No reader of last resort takes the token between calls: the
			// Recv below must read for itself, so that only the watch can
			// end its read.
			transport.SetReadHandoff(a, time.Hour)
			transport.SetReadHook(a, func(e transport.ReadEvent) {
				if e == transport.ReadBlocked {
					select {
					case blocked <- struct{}{}:
					default:
					}
				}
			})
			earlier, cancelEarlier := context.WithCancel(context.Background())
			defer cancelEarlier()
			for range 3 {
				s, err := a.Call(earlier, "answer", nil)
				require.NoError(t, err)
				m, err := s.Recv(earlier)
				require.NoError(t, err)
				require.Equal(t, transport.KindReturn, m.Kind)
				s.Close()
			}
			ctx, cancel := tc.later(earlier, cancelEarlier)
			defer cancel()
			s, err := a.Call(context.Background(), "hang", nil)
			require.NoError(t, err)
			defer s.Close()
			for len(blocked) > 0 {
				<-blocked
			}
			got := make(chan error, 1)
			go func() {
				_, err := s.Recv(ctx)
				got <- err
			}()
			select {
			case <-blocked: // it reads for itself: only the watch ends its read
			case <-time.After(10 * time.Second):
				t.Fatal("Recv did not block in its read within 10 s")
			}
			cancel()
			select {
			case err := <-got:
				require.ErrorIs(t, err, context.Canceled)
			case <-time.After(10 * time.Second):
				t.Fatal("Recv was not interrupted within 10 s of its ctx's end")
			}
		})
		t.Run("write: "+tc.name, func(t *testing.T) {
			t.Parallel()
			c, peer := established(t)
			earlier, cancelEarlier := context.WithCancel(context.Background())
			defer cancelEarlier()
			for range 3 { // small Calls, written by the caller itself
				_, err := c.Call(earlier, "small", nil)
				require.NoError(t, err)
				_, err = transport.ReadFrame(peer, 1<<20)
				require.NoError(t, err)
			}
			ctx, cancel := tc.later(earlier, cancelEarlier)
			defer cancel()
			stop := time.AfterFunc(50*time.Millisecond, cancel)
			defer stop.Stop()
			returned := make(chan error, 1)
			go func() {
				_, err := c.Call(ctx, "big", make([]byte, 8<<20)) // far more than the socket holds
				returned <- err
			}()
			select {
			case err := <-returned:
				require.NoError(t, err, "the frame was queued; it goes out when the peer reads")
			case <-time.After(10 * time.Second):
				t.Fatal("the blocked write was not interrupted within 10 s of its ctx's end")
			}
			require.NoError(t, c.Err())
		})
	}
}
