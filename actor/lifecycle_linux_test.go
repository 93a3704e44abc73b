package actor_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

var (
	// garble writes a malformed frame on the actor's link to its parent
	// (the one socket of this process), then blocks, alive, until its ctx
	// is cancelled.
	garble = actor.Func("lifecycle.garble", func(ctx context.Context, _ struct{}) (int, error) {
		fds, _ := filepath.Glob("/proc/self/fd/*")
		for _, path := range fds {
			if target, _ := os.Readlink(path); strings.HasPrefix(target, "socket:") {
				if fd, err := strconv.Atoi(filepath.Base(path)); err == nil {
					// A one-byte frame: 0xc1, which msgpack never uses.
					_, _ = syscall.Write(fd, []byte{0, 0, 0, 1, 0xc1})
				}
			}
		}
		<-ctx.Done()
		select {} // stays alive: only a kill ends it
	})

	// helper starts a process that inherits the actor's stderr and
	// outlives the call, and returns its pid.
	helper = actor.Func("lifecycle.helper", func(ctx context.Context, seconds int) (int, error) {
		cmd := exec.Command("sleep", strconv.Itoa(seconds))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		go func() { _ = cmd.Wait() }() // reaped if the actor lives that long
		return cmd.Process.Pid, nil
	})
)

func TestLinkBrokenByTheChild(t *testing.T) {
	proctest.NeedsProcesses(t, "a link to break")
	proctest.NoChildrenLeft(t)
	var callErr, laterErr error
	var took time.Duration
	start := time.Now()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "garbler", actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		_, callErr = garble.Call(context.Background(), ref, struct{}{})
		took = time.Since(start)
		later := time.Now()
		_, laterErr = square.Call(context.Background(), ref, 2)
		require.Less(t, time.Since(later), 500*time.Millisecond, "a later call fails at once")
		return nil
	})
	require.ErrorIs(t, err, transport.ErrProtocol, "the task fails with the cause")
	require.ErrorIs(t, callErr, transport.ErrProtocol, "the call in flight fails with the cause")
	require.ErrorIs(t, laterErr, transport.ErrProtocol, "a later call fails with the cause")
	require.Less(t, took, 2*time.Second)
}

func TestTeardownDoesNotWaitForAHelpersOutput(t *testing.T) {
	proctest.NeedsProcesses(t, "a helper process")
	proctest.NoChildrenLeft(t)
	var helperPID int
	var start time.Time
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "parent-of-helper", actor.WithGrace(200*time.Millisecond),
			actor.WithKillDelay(200*time.Millisecond), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		helperPID, err = helper.Call(ctx, ref, 5)
		require.NoError(t, err)
		start = time.Now()
		n.Cancel(nil)
		return nil
	})
	took := time.Since(start)
	require.NoError(t, syscall.Kill(helperPID, syscall.SIGKILL), "the helper outlived the actor")
	require.NoError(t, err)
	require.Less(t, took, 2*time.Second, "the teardown does not wait for the helper's end")
}
