//go:build unix

package transport_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
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

// gatedPair returns a Conn (the responder) over a gatedConn, the gate, and
// the raw socket of its peer, past the handshake. The gate opens before
// the Conn closes.
func gatedPair(t *testing.T, opts ...transport.Option) (*transport.Conn, *gatedConn, net.Conn) {
	t.Helper()
	raw, fb := rawSocket(t)
	nc, err := net.FileConn(fb)
	fb.Close()
	require.NoError(t, err)
	g := &gatedConn{Conn: nc, entered: make(chan struct{}), gate: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		handshakeRaw(t, raw, transport.Version)
	}()
	c, err := transport.NewConn(context.Background(), g, transport.Responder, opts...)
	<-done
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	t.Cleanup(g.release) // runs before c.Close
	return c, g, raw
}

// The cap bounds what the peer can make this side queue, not what this
// side queues of its own accord: a fan-out that closes more streams than
// the cap while a write is stuck on a slow link (the peer reads whatever
// arrives) queues that many Cancels, and the connection carries on. Not
// parallel: its 12,000 Calls would starve the timing-bound tests.
func TestOwnCancelsBehindASlowWriteDoNotFailTheConnection(t *testing.T) {
	const streams = 12_000 // more than the cap of 10,000
	c, g, raw := gatedPair(t)
	go func() { _, _ = io.Copy(io.Discard, raw) }() // ends when raw closes

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	calls := make([]*transport.Stream, streams)
	for i := range calls {
		s, err := c.Call(ctx, "f", nil)
		require.NoError(t, err)
		calls[i] = s
	}
	g.armed.Store(true)
	require.NoError(t, calls[0].Close()) // its Cancel's write blocks
	select {
	case <-g.entered:
	case <-ctx.Done():
		t.Fatal("the write loop never wrote the first Cancel")
	}
	for _, s := range calls[1:] {
		require.NoError(t, s.Close())
	}
	require.NoError(t, c.Err(), "this side's own Cancels failed the connection")
	g.release()
	require.NoError(t, c.Close())
	require.NotErrorIs(t, c.Err(), transport.ErrTooManyControlFrames)
}

// A peer that does not read cannot make this side queue Credit after
// Credit: the allowance it may use grows only when a Credit is taken for
// writing, so Yields past the window while this side's writes are stuck
// break the protocol, however eagerly the application reads.
func TestHostileYieldsBehindAStuckWriteGetNoCredit(t *testing.T) {
	t.Parallel()
	const window = 16
	c, g, raw := gatedPair(t, transport.WithWindow(window))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.Call(ctx, "f", nil)
	require.NoError(t, err)
	call, err := transport.ReadFrame(raw, 1<<20)
	require.NoError(t, err)
	m, err := transport.DecodeMessage(call)
	require.NoError(t, err)
	other, err := c.Call(ctx, "g", nil)
	require.NoError(t, err)

	g.armed.Store(true)
	require.NoError(t, other.Close()) // its Cancel's write blocks
	select {
	case <-g.entered:
	case <-ctx.Done():
		t.Fatal("the Cancel was never written")
	}
	yields := func(n int) {
		var out []byte
		for range n {
			out = append(out, frameOf(t, []any{int(transport.KindYield), m.ID, 1})...)
		}
		_, err := raw.Write(out)
		require.NoError(t, err)
	}
	// A window of Yields, which the application reads at once: it grants
	// credit for all of them, and the Credits wait behind the stuck write.
	yields(window)
	for range window {
		_, err := s.Recv(ctx)
		require.NoError(t, err)
	}
	// One more Yield: the peer cannot have read any credit.
	yields(1)
	_, err = s.Recv(ctx)
	require.Error(t, err, "a Yield past the window went through, on credit the peer never saw")
	err = c.Err()
	require.ErrorIs(t, err, transport.ErrProtocol)
	require.ErrorContains(t, err, "beyond the granted credit")
}
