package actor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// entered reports, without blocking long, whether enter returned.
func enterAsync(g *batchGate, ctx context.Context, id, after uint64) <-chan error {
	done := make(chan error, 1)
	go func() { done <- g.enter(ctx, id, after) }()
	return done
}

func requireBlocked(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: entered (%v) while it should wait", what, err)
	case <-time.After(20 * time.Millisecond): // a bounded check that nothing happens
	}
}

func TestBatchGateOrdersTheBatchBehind(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var g batchGate
	// The batch behind (id 9, after 7) reaches the gate first.
	b := enterAsync(&g, ctx, 9, 7)
	requireBlocked(t, b, "before the batch ahead entered")
	require.NoError(t, g.enter(ctx, 7, 0))
	requireBlocked(t, b, "while the batch ahead runs")
	g.leave(7)
	require.NoError(t, <-b, "once the batch ahead left")
	g.leave(9)
	// A batch behind one that has come and gone enters at once.
	require.NoError(t, g.enter(ctx, 12, 9))
	g.leave(12)
}

func TestBatchGateGivesAnAbandonedPlaceToTheOneAhead(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var g batchGate
	require.NoError(t, g.enter(ctx, 3, 0)) // a runs
	bctx, bcancel := context.WithCancel(ctx)
	b := enterAsync(&g, bctx, 5, 3)
	requireBlocked(t, b, "b behind a")
	bcancel()
	require.ErrorIs(t, <-b, context.Canceled, "b gave up")
	c := enterAsync(&g, ctx, 8, 5)
	requireBlocked(t, c, "c behind b waits for a, which b waited for")
	g.leave(3)
	require.NoError(t, <-c)
	g.leave(8)
	require.Empty(t, g.abandoned)
}
