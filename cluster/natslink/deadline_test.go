package natslink_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/natslink"
)

func TestDeadlineAfterClose(t *testing.T) {
	t.Parallel()
	l, _, err := natslink.NewDetached(natslink.Config{Send: "a", Recv: "b", DeadInterval: testT})
	require.NoError(t, err)
	require.NoError(t, l.SetDeadline(time.Now().Add(time.Hour)))
	require.NoError(t, l.Close())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.SetWriteDeadline(time.Time{})
		_ = l.SetReadDeadline(time.Now().Add(time.Hour))
		_ = l.SetDeadline(time.Now().Add(-time.Second))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("setting a deadline after Close blocks")
	}
}

func TestDeadlineFiresAndMoves(t *testing.T) {
	t.Parallel()
	l, _ := detached(t, natslink.Config{Send: "a", Recv: "b", DeadInterval: testT})
	require.NoError(t, l.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	_, err := l.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	// After it fired, a new one in the future and then none: Read blocks
	// until the next one.
	require.NoError(t, l.SetReadDeadline(time.Now().Add(time.Hour)))
	require.NoError(t, l.SetReadDeadline(time.Time{}))
	require.NoError(t, l.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	start := time.Now()
	_, err = l.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), 15*time.Millisecond)
}
