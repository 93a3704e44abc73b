package transport

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

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
	cw.watch(context.WithValue(again, struct{}{}, 1), f) // the same Done: nothing new
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
