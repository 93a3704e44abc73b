package transport

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// testKey keys a value that derives a ctx with the same Done.
type testKey struct{}

// TestCtxWatchKeepsOnlyACtxThatComesBack: a ctx seen for one wait is
// unregistered after it (a ctx made per call, cancelled after the call,
// then fires nothing); the ctx of the previous wait, seen again, stays
// registered, and fires when it ends; another ctx replaces it.
func TestCtxWatchKeepsOnlyACtxThatComesBack(t *testing.T) {
	t.Parallel()
	fired := make(chan struct{}, 4)
	f := func() { fired <- struct{}{} }
	var cw ctxWatch

	once, cancelOnce := context.WithCancel(context.Background())
	cw.watch(once, f)
	cw.waited()
	require.Nil(t, cw.stop, "a ctx of one wait is unregistered after it")
	cancelOnce()

	again, cancelAgain := context.WithCancel(context.Background())
	defer cancelAgain()
	for i := range 3 {
		cw.watch(again, f)
		cw.waited()
		if i == 0 {
			require.Nil(t, cw.stop, "first seen: unregistered after its wait")
		} else {
			require.NotNil(t, cw.stop, "seen again: kept")
		}
	}
	cw.watch(context.WithValue(again, testKey{}, 1), f) // the same Done: nothing new
	require.NotNil(t, cw.stop)
	cancelAgain()
	<-fired // the kept registration fires; the first ctx's never did
	require.Empty(t, fired)

	other, cancelOther := context.WithCancel(context.Background())
	defer cancelOther()
	cw.watch(other, f)
	require.False(t, cw.keep, "another ctx replaces it, registered for its wait")
	cw.reset()
	require.Nil(t, cw.stop)
	require.Nil(t, cw.prev)
}

// TestWriterKeepsNoCtxAfterDiscard: senders that got past the
// connection's check before it ended may still write (and fail) after the
// writer was discarded; a ctx they share must not stay registered then,
// since nothing resets the watch any more, and the dead connection would
// stay reachable from that ctx (a long-lived one: until it ends).
func TestWriterKeepsNoCtxAfterDiscard(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	require.NoError(t, b.Close())
	defer a.Close()
	w := newWriter(a)
	w.discard()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 3 {
		owner, err := w.queue(ctx, nil, []byte{0, 0, 0, 1, 0xc0}, false, dataFrame, true, nil)
		require.NoError(t, err)
		require.NotZero(t, owner)
		require.Error(t, w.drainAs(ctx, owner))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	require.Nil(t, w.ctxs.stop, "no registration outlives the writer")
}
