package actor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// A registration that reaches the registrar after the drop of its
// subtree (it was on its way up through a parent when its actor died, and
// the drop overtook it at the root) is refused: no entry outlives its
// owner, whatever the order of their arrival.
func TestRegistrarRefusesRegistrationsOfADroppedSubtree(t *testing.T) {
	ctx := context.Background()
	r := newRegistrar()
	a, a1 := transport.ActorID{ID: "a"}, transport.ActorID{ID: "a1"}
	require.NoError(t, r.drop(ctx, []string{"a", "a1"}, nil))
	_, err := r.register(ctx, nameEntry{Name: "x", Actor: a1, Path: []string{"a", "a1"}})
	require.ErrorIs(t, err, errEnded, "a1 has ended")
	_, err = r.register(ctx, nameEntry{Name: "x", Actor: transport.ActorID{ID: "a2"}, Path: []string{"a", "a1", "a2"}})
	require.ErrorIs(t, err, errEnded, "a1's subtree has ended")
	_, err = r.register(ctx, nameEntry{Name: "x", Actor: a, Path: []string{"a"}})
	require.NoError(t, err, "a lives on")
	require.NoError(t, r.drop(ctx, []string{"a"}, nil))
	_, err = r.register(ctx, nameEntry{Name: "y", Actor: a, Path: []string{"a"}})
	require.ErrorIs(t, err, errEnded)
	got, _ := r.lookup(ctx, "x")
	require.Empty(t, got)
}

// A watch diffs each change in one pass over the name's entries: a
// watcher that sees every one of n registrations costs O(n²) in all, not
// O(n³) (which, at n = 2,000, took minutes).
func TestRegistrarWatchDiffIsLinear(t *testing.T) {
	const n = 2000
	r := newRegistrar()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := make(chan nameChange)
	watched := make(chan error, 1)
	go func() {
		watched <- r.watch(ctx, "many", func(c nameChange) bool {
			select {
			case events <- c:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	start := time.Now()
	for i := range n {
		id := transport.ActorID{ID: fmt.Sprintf("a%d", i)}
		e, err := r.register(ctx, nameEntry{Name: "many", Actor: id, Path: []string{id.ID}})
		require.NoError(t, err)
		select {
		case c := <-events:
			require.Equal(t, Registered, c.Kind)
			require.Equal(t, e.Rev, c.Entry.Rev)
		case <-ctx.Done():
			t.Fatalf("the watch fell %d registrations behind within a minute", n-i)
		}
	}
	// About 4 s under the race detector on an idle 2-core machine, 15 s
	// at a load average of 25; the O(n³) diff took minutes.
	require.Less(t, time.Since(start), 40*time.Second, "the watch's diff is not linear in the name's entries")
	cancel()
	require.ErrorIs(t, <-watched, context.Canceled)
}
