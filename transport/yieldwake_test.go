//go:build unix

package transport_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// TestConcurrentYieldsShareACredit has two goroutines of one callee wait
// for credit at once; a Credit of 2 then arrives, which wakes one: the one
// woken must pass the wake-up on, since credit is left for the other. On
// the old code the other waited on until the next Credit, which the
// caller sends only once it has taken more items: here, never.
func TestConcurrentYieldsShareACredit(t *testing.T) {
	t.Parallel()
	const window = 4
	a, b := connPair(t, []transport.Option{transport.WithWindow(window)}, nil)
	yielded, both := make(chan error, 2), make(chan struct{})
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		for i := range window { // the whole window: no credit left
			if err := s.Yield(ctx, i); err != nil {
				return
			}
		}
		for i := range 2 {
			go func() { yielded <- s.Yield(ctx, window+i) }()
		}
		for range 2 {
			if err := <-yielded; err != nil {
				return
			}
		}
		close(both)
		_ = s.Return(ctx, nil)
	})()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := a.Call(ctx, "run", nil)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Recv(ctx)
	require.NoError(t, err)
	waitForCreditWaiters(t, 2)
	_, err = s.Recv(ctx) // the second item taken: a Credit of 2
	require.NoError(t, err)
	select {
	case <-both: // both Yields returned
	case <-time.After(5 * time.Second):
		t.Fatal("a Yield waits on with credit left")
	}
}

// waitForCreditWaiters waits, for 5 seconds at most, until n goroutines
// wait for credit in a Yield.
func waitForCreditWaiters(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		stacks := buf[:runtime.Stack(buf, true)]
		if bytes.Count(stacks, []byte("transport.(*Stream).takeCredit")) >= n {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("fewer than %d Yields wait for credit", n)
}
