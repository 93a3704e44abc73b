//go:build unix

package transport_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
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
			waiting := make(chan transport.ReadEvent, 16)
			answer := make(chan struct{}, 1)
			a, _ := connPair(t, nil, []transport.Option{transport.WithHandler(func(s *transport.Stream) {
				switch s.Func() {
				case "hang":
					<-s.Canceled()
				case "answer":
					// Not before the caller waits: a Return read ahead of
					// its Recv by the reader of last resort would leave that
					// reader holding the token, and the Recv below would
					// wait as a wanter instead of reading for itself.
					select {
					case <-answer:
					case <-s.Canceled():
					}
				}
				_ = s.Return(context.Background(), nil)
			})})
			// No reader of last resort takes the token between calls: the
			// Recv below must read for itself, so that only the watch can
			// end its read.
			transport.SetReadHandoff(a, time.Hour)
			transport.SetReadHook(a, func(e transport.ReadEvent) {
				if e == transport.ReadBlocked || e == transport.ReadWanter {
					select {
					case waiting <- e:
					default:
					}
				}
			})
			drain := func() {
				for len(waiting) > 0 {
					<-waiting
				}
			}
			// waitFor waits for the next event that says a Recv waits.
			waitFor := func(what string, want ...transport.ReadEvent) {
				t.Helper()
				deadline := time.After(10 * time.Second)
				for {
					select {
					case e := <-waiting:
						if slices.Contains(want, e) {
							return
						}
					case <-deadline:
						t.Fatalf("%s within 10 s", what)
					}
				}
			}
			earlier, cancelEarlier := context.WithCancel(context.Background())
			defer cancelEarlier()
			for range 3 {
				s, err := a.Call(earlier, "answer", nil)
				require.NoError(t, err)
				drain()
				got := make(chan error, 1)
				go func() {
					m, err := s.Recv(earlier)
					if err == nil && m.Kind != transport.KindReturn {
						err = fmt.Errorf("got a %v, want a Return", m.Kind)
					}
					got <- err
				}()
				// The first Recv may wait as a wanter, behind the reader
				// that establish started; that reader then passes the token
				// on once it routed the Return, and the later Recvs read
				// for themselves, with earlier watched.
				waitFor("Recv did not wait", transport.ReadBlocked, transport.ReadWanter)
				answer <- struct{}{}
				select {
				case err := <-got:
					require.NoError(t, err)
				case <-time.After(10 * time.Second):
					t.Fatal("Recv got no Return within 10 s")
				}
				s.Close()
			}
			ctx, cancel := tc.later(earlier, cancelEarlier)
			defer cancel()
			s, err := a.Call(context.Background(), "hang", nil)
			require.NoError(t, err)
			defer s.Close()
			drain()
			got := make(chan error, 1)
			go func() {
				_, err := s.Recv(ctx)
				got <- err
			}()
			// It reads for itself: only the watch ends its read.
			waitFor("Recv did not block in its read", transport.ReadBlocked)
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
			returned := make(chan error, 1)
			go func() {
				_, err := c.Call(ctx, "big", make([]byte, 8<<20)) // far more than the socket holds
				returned <- err
			}()
			// End ctx once the write is under way, not after a delay: a
			// ctx that ends before the Call is queued fails the Call, as
			// it should, and tests nothing of the interruption. The peer
			// reads the big frame's header and no more, so the rest of the
			// write blocks.
			require.NoError(t, peer.SetReadDeadline(time.Now().Add(10*time.Second)))
			var hdr [4]byte
			_, err := io.ReadFull(peer, hdr[:])
			require.NoError(t, err, "the big Call's write did not start within 10 s")
			require.Greater(t, binary.BigEndian.Uint32(hdr[:]), uint32(8<<20), "the next frame is the big Call")
			cancel()
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
