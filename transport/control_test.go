package transport_test

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/transport"
)

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// callFrames returns n Call frames, [2, id, "f", nil], on the odd ids from
// first on.
func callFrames(first uint64, n int) []byte {
	out := make([]byte, 0, n*13)
	for i := range n {
		id := first + 2*uint64(i)
		// fixarray(4), kind 2, id as a uint32, fixstr "f", nil
		body := []byte{0x94, 0x02, 0xce, 0, 0, 0, 0, 0xa1, 'f', 0xc0}
		binary.BigEndian.PutUint32(body[3:7], uint32(id))
		out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out
}

// A peer that keeps calling past the stream limit and never reads makes
// the callee queue one refusal (an Error frame) per Call. The queue of such
// control frames is capped, as x/net/http2 caps its queued control frames:
// past the cap the connection fails with ErrTooManyControlFrames, and the
// callee's heap stays bounded however many Calls the peer sends. Not
// parallel: it measures the heap.
func TestHostileCallerThatNeverReads(t *testing.T) {
	const calls = 100_000 // about 1.3 MB from the peer
	c, raw := established(t, transport.WithMaxStreams(1))
	before := heapInUse()

	// Stream 1 takes the only slot; every later Call is refused; a Cancel
	// of stream 1 at the end tells the test the callee read everything.
	out := callFrames(1, 1)
	out = append(out, callFrames(3, calls)...)
	out = append(out, frameOf(t, []any{8, 1})...)
	wrote := make(chan error, 1)
	go func() {
		for len(out) > 0 {
			n := min(len(out), 64<<10)
			if _, err := raw.Write(out[:n]); err != nil {
				wrote <- err
				return
			}
			out = out[n:]
		}
		wrote <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.Accept(ctx)
	require.NoError(t, err)
	select {
	case <-s.Canceled(): // by the peer's Cancel, or by the connection's end
	case <-ctx.Done():
		t.Fatal("the callee neither read every Call nor failed")
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap growth after %d refused calls: %d KiB", calls, grown>>10)
	require.Less(t, grown, int64(4<<20), "the callee's heap grew with the peer's calls")
	err = waitErr(t, c)
	require.ErrorIs(t, err, transport.ErrTooManyControlFrames)
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorContains(t, err, "does not read")
	raw.Close()
	<-wrote // the write fails once the callee has closed its end
}

// After the peer hangs up, every goroutine of a Conn ends without Close:
// the read loop when it reads the end, the write loop with it.
func TestConnGoroutinesEndWhenThePeerHangsUp(t *testing.T) {
	cases := []struct {
		name   string
		hangUp func(t *testing.T) *transport.Conn
	}{
		{"raw peer closes its socket", func(t *testing.T) *transport.Conn {
			c, raw := established(t)
			require.NoError(t, raw.Close())
			return c
		}},
		{"grove peer closes", func(t *testing.T) *transport.Conn {
			a, b := connPair(t, nil, nil)
			require.NoError(t, b.Close())
			return a
		}},
		{"peer hangs up with frames queued", func(t *testing.T) *transport.Conn {
			c, raw := established(t)
			s, err := c.Call(context.Background(), "f", nil)
			require.NoError(t, err)
			require.NoError(t, s.Close()) // a Cancel, left to the write loop
			require.NoError(t, raw.Close())
			return c
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { // not parallel: it counts goroutines
			others := goleak.IgnoreCurrent()
			c := tc.hangUp(t)
			waitErr(t, c)
			require.NoError(t, goleak.Find(others), "a goroutine of the Conn outlived its link")
			require.NoError(t, c.Close(), "Close after the end is harmless")
		})
	}
}
