package actor_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// logLines collects what is logged through it, a line per record, and
// reports each on a channel.
type logLines struct {
	mu    sync.Mutex
	lines []string
	c     chan string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	select {
	case l.c <- string(p):
	default:
	}
	return len(p), nil
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// hold is a call that stays in flight until its ctx ends.
var hold = actor.StreamFunc("test.hold", func(ctx context.Context, _ struct{}, out chan<- int) error {
	<-ctx.Done()
	return nil
})

// TestForgottenCancelIsNamed returns from a nursery's body without
// cancelling two actors, one of them busy with a call: only the idle one is
// named, once, with the fix.
func TestForgottenCancelIsNamed(t *testing.T) {
	proctest.NoChildrenLeft(t)
	logs := &logLines{c: make(chan string, 16)}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	const idle = 100 * time.Millisecond
	var nurs *nursery.Nursery
	warned := make(chan struct{})
	watcher := make(chan error, 1)
	go func() { // waits for the warning, then does what the body forgot
		defer close(watcher)
		select {
		case <-logs.c:
			watcher <- nil
		case <-time.After(10 * time.Second):
			watcher <- context.DeadlineExceeded
		}
		<-warned
		nurs.Cancel(nil)
	}()
	var forgotten, busy *actor.Ref
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		nurs = n
		defer close(warned)
		var err error
		if forgotten, err = actor.Spawn(ctx, n, "forgotten", actor.WithIdleWarning(idle)); err != nil {
			return err
		}
		if busy, err = actor.Spawn(ctx, n, "busy", actor.WithIdleWarning(idle)); err != nil {
			return err
		}
		st, err := hold.Open(ctx, busy, struct{}{}) // in flight from here until the cancel
		if err != nil {
			return err
		}
		n.Go(func(ctx context.Context) error {
			for range st.C {
			}
			return nil
		})
		return nil // forgot n.Cancel
	})
	require.NoError(t, err)
	require.NoError(t, <-watcher, "a warning within 10 s")
	for range watcher { // joined
	}
	lines := logs.all()
	require.Len(t, lines, 1, "one warning: %v", lines)
	require.Contains(t, lines[0], "grove.actor.name=forgotten grove.actor.id="+forgotten.ID())
	require.NotContains(t, lines[0], busy.ID(), "an actor with a call in flight is not idle")
	require.Contains(t, lines[0], "n.Cancel", "the warning names the fix")
	require.True(t, strings.HasPrefix(strings.SplitN(lines[0], "msg=", 2)[1], `"actor: `), lines[0])
}
