// Package treetest builds a three-level actor tree for the tests of the
// tree view (actor's and cmd/grove's): this process, its actor "mid" and
// mid's actor "leaf", each with a call in flight. Its functions register
// in every binary that imports it: only tests do.
package treetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// The names of the calls in flight: mid runs Mid, leaf runs Leaf.
const (
	MidFunc  = "treetest.mid"
	LeafFunc = "treetest.leaf"
	// LeafFrame is a frame of the leaf's blocked call, in its stacks.
	LeafFrame = "treetest.BlockedInLeaf("
)

// leaf says it has begun, then blocks in BlockedInLeaf until its call
// ends: a call in flight that a test can see in the tree and the stacks.
var leaf = actor.StreamFunc(LeafFunc, func(ctx context.Context, _ int, out chan<- int) error {
	out <- 1
	return BlockedInLeaf(ctx)
})

// BlockedInLeaf is the frame the leaf's stacks show.
func BlockedInLeaf(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// mid spawns the leaf, opens leaf on it, says so once the leaf's call is
// under way, and holds both until its own call ends.
var mid = actor.StreamFunc(MidFunc, func(ctx context.Context, _ int, out chan<- int) error {
	return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "leaf")
		if err != nil {
			return err
		}
		st, err := leaf.Open(ctx, ref, 0)
		if err != nil {
			return err
		}
		defer st.Close()
		select {
		case <-st.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		out <- 1
		<-ctx.Done()
		n.Cancel(nil)
		return nil
	})
})

// Run runs body with the tree of three levels, both calls under way, and
// takes it down after.
func Run(t testing.TB, body func(ctx context.Context, mid *actor.Ref)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "mid")
		if err != nil {
			return err
		}
		st, err := mid.Open(ctx, ref, 0)
		if err != nil {
			return err
		}
		select {
		case <-st.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		body(ctx, ref)
		st.Close()
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}
