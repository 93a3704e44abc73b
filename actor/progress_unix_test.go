//go:build unix

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

// stamp returns when its item began and ended in the actor, in Unix
// nanoseconds, after working 1 ms; it exits its actor with code 6 on a
// negative input.
var stamp = actor.Func("test.stamp", func(ctx context.Context, x int) ([2]int64, error) {
	if x < 0 {
		os.Exit(6)
	}
	began := time.Now().UnixNano()
	time.Sleep(time.Millisecond) // the work itself, not a wait for something
	return [2]int64{began, time.Now().UnixNano()}, nil
})

func TestStartBatchQueuesBehindTheBatchAhead(t *testing.T) {
	proctest.NeedsProcesses(t, "an actor process")
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "queue")
		if err != nil {
			return err
		}
		for round := range 20 { // the handlers race to the gate: try it often
			a := actor.StartBatch(ctx, ref, stamp, []int{1, 2, 3}, actor.BatchSlot{})
			b := actor.StartBatch(ctx, ref, stamp, []int{4, 5}, a.Slot())
			bOuts, bErrs, bErr := b.Wait() // out of order: b's results wait in its stream
			aOuts, aErrs, aErr := a.Wait()
			require.NoError(t, aErr)
			require.NoError(t, bErr)
			for i := range aErrs {
				require.NoError(t, aErrs[i])
			}
			for i := range bErrs {
				require.NoError(t, bErrs[i])
			}
			require.GreaterOrEqual(t, bOuts[0][0], aOuts[len(aOuts)-1][1], "round %d: the batch behind began once the one ahead had ended", round)
		}
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
}

func TestStartBatchBehindADeath(t *testing.T) {
	proctest.NeedsProcesses(t, "an actor process that exits")
	proctest.NoChildrenLeft(t)
	var aErrs, bErrs []error
	var aErr, bErr error
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "doomed")
		if err != nil {
			return err
		}
		a := actor.StartBatch(ctx, ref, stamp, []int{1, 2, -1, 3}, actor.BatchSlot{})
		b := actor.StartBatch(ctx, ref, stamp, []int{4, 5}, a.Slot())
		_, aErrs, aErr = a.Wait()
		_, bErrs, bErr = b.Wait()
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, aErr, &ee)
	require.Equal(t, 6, ee.Code)
	require.ErrorAs(t, aErrs[2], &ee, "the running item fails with the death")
	require.False(t, errors.Is(aErrs[2], actor.ErrNotStarted) || errors.Is(aErrs[2], actor.ErrResultLost))
	require.ErrorIs(t, aErrs[3], actor.ErrNotStarted)
	for i := range 2 { // ran: their results arrived, or died unsent
		require.True(t, aErrs[i] == nil || errors.Is(aErrs[i], actor.ErrResultLost), "item %d: %v", i, aErrs[i])
	}
	require.ErrorAs(t, bErr, &ee)
	for i := range bErrs {
		require.ErrorIs(t, bErrs[i], actor.ErrNotStarted, "the queued batch never began: item %d", i)
	}
}

func TestABatchThatRanBeforeTheDeathOfTheOneBehind(t *testing.T) {
	proctest.NeedsProcesses(t, "an actor process that exits")
	proctest.NoChildrenLeft(t)
	for round := range 10 {
		var aOuts [][2]int64
		var aErrs, bErrs []error
		_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "doomed")
			if err != nil {
				return err
			}
			a := actor.StartBatch(ctx, ref, stamp, []int{1, 2}, actor.BatchSlot{})
			b := actor.StartBatch(ctx, ref, stamp, []int{-1, 3}, a.Slot())
			aOuts, aErrs, _ = a.Wait()
			_, bErrs, _ = b.Wait()
			return nil
		})
		// a ran whole before b began: its results arrived, or died
		// unsent (its Return raced the exit), never the bare death.
		for i := range aErrs {
			if aErrs[i] == nil {
				require.Positive(t, aOuts[i][0])
				continue
			}
			require.ErrorIs(t, aErrs[i], actor.ErrResultLost, "round %d: item %d of the batch ahead ran", round, i)
		}
		var ee *actor.ExitError
		require.ErrorAs(t, bErrs[0], &ee)
		require.False(t, errors.Is(bErrs[0], actor.ErrNotStarted) || errors.Is(bErrs[0], actor.ErrResultLost))
		require.ErrorIs(t, bErrs[1], actor.ErrNotStarted)
	}
}

// A chain of three: a and b run whole, c's first item kills the actor. The
// Returns of a and b race the exit; whichever did not make it is lost, never
// failed by the death (the page keeps the two batches that finished last).
func TestTwoBatchesThatRanBeforeTheDeathOfTheThird(t *testing.T) {
	proctest.NeedsProcesses(t, "an actor process that exits")
	proctest.NoChildrenLeft(t)
	for round := range 10 {
		var errs [2][]error
		var cErrs []error
		_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "doomed")
			if err != nil {
				return err
			}
			a := actor.StartBatch(ctx, ref, stamp, []int{1, 2}, actor.BatchSlot{})
			b := actor.StartBatch(ctx, ref, stamp, []int{3, 4}, a.Slot())
			c := actor.StartBatch(ctx, ref, stamp, []int{-1, 5}, b.Slot())
			_, errs[0], _ = a.Wait()
			_, errs[1], _ = b.Wait()
			_, cErrs, _ = c.Wait()
			return nil
		})
		for k := range errs {
			for i, err := range errs[k] {
				if err != nil {
					require.ErrorIs(t, err, actor.ErrResultLost, "round %d: item %d of batch %d ran", round, i, k)
				}
			}
		}
		var ee *actor.ExitError
		require.ErrorAs(t, cErrs[0], &ee)
		require.False(t, errors.Is(cErrs[0], actor.ErrNotStarted) || errors.Is(cErrs[0], actor.ErrResultLost))
		require.ErrorIs(t, cErrs[1], actor.ErrNotStarted)
	}
}
