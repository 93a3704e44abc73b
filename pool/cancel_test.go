package pool_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/pool"
)

// A queued task cancelled behind a running one answers at once, without
// waiting for a worker to come free.
func TestCancelQueuedAnswersAtOnce(t *testing.T) {
	p := newPool(t, pool.WithWorkers(1))
	running := pool.Submit(p, sleepy, 60_000)
	queued := pool.Submit(p, sleepy, 1)
	queued.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := queued.Result(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "answered at once, not when the worker came free")
	running.Cancel()
}
