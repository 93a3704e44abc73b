package actor_test

import (
	"context"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// TestLadderCountsFromTheStop: a child that cannot read its link or answer
// (it is stopped, SIGSTOP) still gets its whole ladder, and no rung comes
// early: the stop ends at SIGKILL, a full grace and kill delay after the
// stop. (How late it may come is not asserted: on a loaded machine the
// timer's wake-up waits for a CPU; figure 5b of grove-bench measures it.)
func TestLadderCountsFromTheStop(t *testing.T) {
	proctest.NeedsProcesses(t, "a process to stop")
	proctest.NoChildrenLeft(t)
	const grace, kill = 1500 * time.Millisecond, 100 * time.Millisecond
	var cancelled time.Time
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "frozen", actor.WithGrace(grace), actor.WithKillDelay(kill))
		if err != nil {
			return err
		}
		require.NoError(t, syscall.Kill(ref.PID(), syscall.SIGSTOP))
		// Wait until it is stopped; WNOWAIT leaves the report for later.
		var info [128]byte // siginfo_t
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, 1 /* P_PID */, uintptr(ref.PID()),
			uintptr(unsafe.Pointer(&info)), syscall.WSTOPPED|syscall.WNOWAIT, 0, 0)
		require.Zero(t, errno)
		cancelled = time.Now()
		ref.Cancel()
		return nil
	})
	took := time.Since(cancelled)
	require.NoError(t, err)
	require.GreaterOrEqual(t, took, grace+kill, "a rung came early")
}
