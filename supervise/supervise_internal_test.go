package supervise

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/nursery"
)

// TestTerminatedChildLeavesWhichAtOnce holds the loop right after it
// answered TerminateChild, so that Which can only see what the loop
// published before answering: the child must already be gone from it (OTP's
// terminate_child: the child no longer runs when it returns), even one that
// ignores its stop past its Shutdown.
func TestTerminatedChildLeavesWhichAtOnce(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hold := make(chan struct{})
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		defer close(release)
		l, err := newLoop(Spec{Children: []Child{
			{Name: "slow", Shutdown: time.Millisecond, Run: func(ctx context.Context) error {
				<-ctx.Done()
				<-release // ignores its stop
				return nil
			}},
			{Name: "stays", Run: func(ctx context.Context) error {
				<-ctx.Done()
				return nil
			}},
		}})
		require.NoError(t, err)
		l.answered = func() { <-hold }
		sup, err := l.runIn(n)
		require.NoError(t, err)
		defer close(hold)
		require.NoError(t, sup.TerminateChild("slow"))
		w := sup.Which()
		require.Len(t, w, 1, "TerminateChild returned before the loop published the child's removal: %v", w)
		require.Equal(t, "stays", w[0].Name)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

// TestRestartedChildInWhichBeforeItRuns holds the loop right after it
// started a restarted child's goroutine: what the child does (here, say it
// runs) can be seen before the loop goes on, so Which must already count
// the restart and show the new incarnation.
func TestRestartedChildInWhichBeforeItRuns(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	running := make(chan struct{})
	incarnations := 0
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		l, err := newLoop(Spec{Children: []Child{
			{Name: "w", Run: func(ctx context.Context) error {
				incarnations++ // each incarnation starts after the last one's end was handled
				if incarnations == 1 {
					return errors.New("boom")
				}
				close(running)
				<-ctx.Done()
				return nil
			}},
		}})
		require.NoError(t, err)
		l.launched = func(c *child) {
			if c.restarts > 0 {
				<-hold
			}
		}
		sup, err := l.runIn(n)
		require.NoError(t, err)
		defer close(hold)
		<-running
		w := sup.Which()
		require.Len(t, w, 1)
		require.Equal(t, 1, w[0].Restarts, "the restarted child ran before the loop published its restart")
		require.Equal(t, Running, w[0].State)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}
