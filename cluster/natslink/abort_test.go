package natslink_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/natslink"
)

func TestAbort(t *testing.T) {
	t.Parallel()
	t.Run("no peer: returns at once, without waiting for a fin's ack", func(t *testing.T) {
		t.Parallel()
		l := alone(t)
		_, err := l.Write([]byte("never acked"))
		require.NoError(t, err)
		start := time.Now()
		l.Abort()
		took := time.Since(start)
		t.Logf("Abort with unacked data and no peer took %v", took)
		require.Less(t, took, natslink.CloseTimeout/4)
		require.ErrorIs(t, l.Err(), net.ErrClosed)
		require.NoError(t, l.Close(), "Close after Abort is a no-op")
		l.Abort() // and so is a second Abort
	})
	t.Run("sends no fin: the peer reads no EOF and ends by silence", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, -1)
		a, b := pair(t, s, natslink.Config{DeadInterval: testT})
		_, err := a.Write([]byte("before"))
		require.NoError(t, err)
		buf := make([]byte, 16)
		n, err := b.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "before", string(buf[:n]))
		a.Abort()
		_, err = a.Write([]byte("x"))
		require.ErrorIs(t, err, net.ErrClosed)
		_, err = b.Read(buf)
		var se *natslink.SilenceError
		require.ErrorAs(t, err, &se, "the peer saw no fin: its read ends by silence, not io.EOF")
	})
	t.Run("unblocks a blocked read and a write blocked on the window", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, -1)
		a, _ := pair(t, s, natslink.Config{DeadInterval: 10 * time.Second, Window: natslink.MaxChunk})
		rerr := make(chan error, 1)
		go func() { _, err := a.Read(make([]byte, 1)); rerr <- err }()
		werr := make(chan error, 1)
		// The peer reads nothing: the second chunk waits for window space.
		go func() { _, err := a.Write(make([]byte, 3*natslink.MaxChunk)); werr <- err }()
		require.Eventually(t, func() bool { return natslink.Inflight(a) > 0 }, 5*time.Second, time.Millisecond)
		a.Abort()
		require.ErrorIs(t, <-rerr, net.ErrClosed)
		require.ErrorIs(t, <-werr, net.ErrClosed)
	})
}
