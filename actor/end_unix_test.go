//go:build unix

package actor_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
)

var (
	// killSelfOnStop kills its own process with SIGKILL once its ctx is
	// cancelled, as the OOM killer might during a stop.
	killSelfOnStop = actor.Func("end.killSelfOnStop", func(ctx context.Context, key string) (string, error) {
		lingerCount(key).Add(1)
		<-ctx.Done()
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	})

	// exitOnTerm ignores its ctx and exits with code 7 on SIGTERM.
	exitOnTerm = actor.Func("end.exitOnTerm", func(ctx context.Context, key string) (string, error) {
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		lingerCount(key).Add(1)
		<-term
		os.Exit(7)
		return "", nil
	})
)

// TestEndsAgree: the call in flight and the task report one end the same
// way: a death as the one *ExitError value, a stop as ErrStopped beside a
// task without error.
func TestEndsAgree(t *testing.T) {
	proctest.NeedsProcesses(t, "signals and exits")
	proctest.NoChildrenLeft(t)
	sigterm := func(ref *actor.Ref) {
		p, err := os.FindProcess(ref.PID())
		require.NoError(t, err)
		require.NoError(t, p.Signal(syscall.SIGTERM))
	}
	cancel := func(ref *actor.Ref) { ref.Cancel() }
	cases := []struct {
		name  string
		fn    *actor.Function[string, string]
		act   func(ref *actor.Ref)
		opts  []actor.Option
		death func(t *testing.T, ee *actor.ExitError) // nil: a stop
	}{
		{"SIGTERM from outside, a call that returns ctx.Err()", blockFor, sigterm, nil,
			func(t *testing.T, ee *actor.ExitError) { require.Equal(t, 0, ee.Code) }},
		{"a grace of 0, a call that returns ctx.Err()", blockFor, cancel,
			[]actor.Option{actor.WithGrace(0)}, nil},
		{"SIGKILL from inside after the stop message", killSelfOnStop, cancel, nil,
			func(t *testing.T, ee *actor.ExitError) { require.Equal(t, syscall.SIGKILL, ee.Signal) }},
		{"exit 7 on the parent's SIGTERM", exitOnTerm, cancel,
			[]actor.Option{actor.WithGrace(100 * time.Millisecond)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			callErr, taskErr := endOf(t, tc.fn, tc.act, append(tc.opts, actor.WithOutput(&syncBuffer{}))...)
			if tc.death == nil {
				require.NoError(t, taskErr, "a stop")
				require.ErrorIs(t, callErr, actor.ErrStopped, "the call says the actor was stopped")
				return
			}
			var ee *actor.ExitError
			require.ErrorAs(t, taskErr, &ee, "the task")
			tc.death(t, ee)
			require.ErrorIs(t, callErr, ee, "the call's error is the task's death, the same value: %v", callErr)
		})
	}
}
