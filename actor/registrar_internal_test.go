package actor

import (
	"context"
	"testing"

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
