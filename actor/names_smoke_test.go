package actor_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

var (
	smokeRegister = actor.Func("test.smoke.register", func(ctx context.Context, name string) (uint64, error) {
		reg, err := actor.Register(ctx, name, actor.Expose(square))
		if err != nil {
			return 0, err
		}
		return reg.Revision(), nil
	})
	smokeFindCall = actor.Func("test.smoke.findCall", func(ctx context.Context, name string) (int, error) {
		ref, err := actor.Find(ctx, name)
		if err != nil {
			return 0, err
		}
		return square.Call(ctx, ref, 7)
	})
)

func TestSmokeNames(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		var a *actor.Ref
		aDone := make(chan error, 1)
		aUp := make(chan struct{})
		n.Go(func(ctx context.Context) error {
			aDone <- nursery.Run(ctx, func(ctx context.Context, sub *nursery.Nursery) error {
				var err error
				a, err = actor.Spawn(ctx, sub, "a")
				close(aUp)
				return err
			})
			return nil
		})
		<-aUp
		require.NotNil(t, a)
		b, err := actor.Spawn(ctx, n, "b")
		require.NoError(t, err)
		rev, err := smokeRegister.Call(ctx, a, "db")
		require.NoError(t, err)
		require.NotZero(t, rev)
		got, err := smokeFindCall.Call(ctx, b, "db")
		require.NoError(t, err)
		require.Equal(t, 49, got)
		ref, err := actor.Find(ctx, "db")
		require.NoError(t, err)
		require.Equal(t, a.ID(), ref.ID())
		got, err = square.Call(ctx, ref, 3)
		require.NoError(t, err)
		require.Equal(t, 9, got)
		_, err = pid.Call(ctx, ref, struct{}{})
		require.ErrorIs(t, err, actor.ErrNotExposed)
		t.Log(err)
		a.Cancel()
		require.NoError(t, <-aDone)
		_, err = square.Call(ctx, ref, 3)
		require.ErrorIs(t, err, actor.ErrNotFound)
		t.Log(err)
		b.Cancel()
		return nil
	})
	require.NoError(t, err)
	_, err = actor.Find(ctx, "db")
	require.ErrorIs(t, err, actor.ErrNotFound)
}
