package actor_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// errOf keeps the error of a call that returns a value and an error.
func errOf[T any](_ T, err error) error { return err }

func errOf3[A, B any](_ A, _ B, err error) error { return err }

// A nil argument gives a one-line error that names the function, the
// argument and the fix, never a nil-pointer panic.
func TestMisuseSaysTheFix(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var (
		nilCtx  context.Context
		noRef   *actor.Ref
		noFunc  *actor.Function[int, int]
		noNurse *nursery.Nursery
	)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		require.NoError(t, err)
		cases := []struct {
			name string
			err  error
			want string
		}{
			{"Spawn, nil ctx", errOf(actor.Spawn(nilCtx, n, "w")), "actor: Spawn w: nil ctx"},
			{"Spawn, nil nursery", errOf(actor.Spawn(ctx, noNurse, "w")), "actor: Spawn w: nil *nursery.Nursery"},
			{"Call, nil Ref", errOf(square.Call(ctx, noRef, 1)), "actor: call test.square: nil *Ref"},
			{"Call, nil ctx", errOf(square.Call(nilCtx, ref, 1)), "call test.square: nil ctx"},
			{"Call of a nil Function", errOf(noFunc.Call(ctx, ref, 1)), "actor: Call on a nil *Function[int, int]"},
			{"CallByName, nil Ref", errOf(actor.CallByName[int](ctx, noRef, "test.square", 1)), "nil *Ref"},
			{"stream Open, nil Ref", errOf(count.Open(ctx, noRef, 1)), "actor: call test.count: nil *Ref"},
			{"stream Open of a nil StreamFunction", errOf((*actor.StreamFunction[int, int])(nil).Open(ctx, ref, 1)), "actor: Open on a nil *StreamFunction[int, int]"},
			{"duplex Open of a nil DuplexFunction", errOf((*actor.DuplexFunction[int, int])(nil).Open(ctx, ref)), "actor: Open on a nil *DuplexFunction[int, int]"},
			{"CallBatch of a nil Function", errOf3(actor.CallBatch(ctx, ref, noFunc, []int{1})), "actor: CallBatch of a nil *Function[int, int]"},
			{"CallBatch, nil Ref", errOf3(actor.CallBatch(ctx, noRef, square, []int{1})), "nil *Ref"},
			{"RunIn, nil ctx", errOf(actor.RunIn(nilCtx, square, 1)), "actor: RunIn: nil ctx"},
			{"RunIn, nil Function", errOf(actor.RunIn(ctx, noFunc, 1)), "actor: RunIn: nil *Function[int, int]"},
		}
		for _, c := range cases {
			require.ErrorContains(t, c.err, c.want, c.name)
			require.NotContains(t, c.err.Error(), "\n", "%s: one line", c.name)
		}
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
	require.PanicsWithValue(t, "actor: Cancel called on a nil *Ref: use the Ref that Spawn returned with a nil error",
		func() { noRef.Cancel() })
	require.Equal(t, "<nil>", noRef.String())
}
