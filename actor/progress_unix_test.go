//go:build !js && !wasip1

package actor_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// exitAt works 2 ms on the inputs below 10, exits its actor with code 5 on
// input 10, and returns the rest at once.
var exitAt = actor.Func("test.exitAt", func(ctx context.Context, x int) (int, error) {
	switch {
	case x == 10:
		os.Exit(5)
	case x < 10:
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return x, nil
})

func TestCallsTheDeadActorNeverBegan(t *testing.T) {
	proctest.NeedsProcesses(t, "a process to kill")
	proctest.NoChildrenLeft(t)
	var began, never error
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "victim")
		if err != nil {
			return err
		}
		if _, err := square.Call(ctx, ref, 2); err != nil {
			return err
		}
		if err := syscall.Kill(ref.PID(), syscall.SIGKILL); err != nil {
			return err
		}
		_, never = square.Call(ctx, ref, 3) // at once: the parent may not know yet
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, never, &ee)
	require.Equal(t, syscall.SIGKILL, ee.Signal)
	require.ErrorIs(t, never, actor.ErrNotStarted, "the call after the kill never began")

	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "doomed")
		if err != nil {
			return err
		}
		_, began = exit.Call(ctx, ref, 3)
		return nil
	})
	require.ErrorAs(t, began, &ee)
	require.Equal(t, 3, ee.Code)
	require.NotErrorIs(t, began, actor.ErrNotStarted, "the call that exited had begun")
}

func TestCallBatchAfterADeath(t *testing.T) {
	proctest.NeedsProcesses(t, "a process that exits")
	proctest.NoChildrenLeft(t)
	ins := make([]int, 20)
	for i := range ins {
		ins[i] = i
	}
	var outs []int
	var errs []error
	var batchErr error
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "batch")
		if err != nil {
			return err
		}
		outs, errs, batchErr = actor.CallBatch(ctx, ref, exitAt, ins)
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, batchErr, &ee, "the batch ended with the death")
	require.Len(t, errs, len(ins))
	arrived := 0
	for i := range 10 { // 20 ms of work: some results were sent
		if errs[i] == nil {
			require.Equal(t, i, outs[i])
			arrived++
			continue
		}
		require.ErrorIs(t, errs[i], actor.ErrResultLost, "item %d ran", i)
		require.ErrorAs(t, errs[i], &ee)
	}
	require.Positive(t, arrived, "the results of the first items were sent before the death")
	require.ErrorAs(t, errs[10], &ee, "the running item fails with the death")
	require.Equal(t, 5, ee.Code)
	require.False(t, errors.Is(errs[10], actor.ErrNotStarted) || errors.Is(errs[10], actor.ErrResultLost))
	for i := 11; i < len(ins); i++ {
		require.ErrorIs(t, errs[i], actor.ErrNotStarted, "item %d never started", i)
	}
}
