package actor_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
)

// panicMessage runs f and returns what it panicked with, formatted.
func panicMessage(f func()) (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	f()
	return "no panic"
}

func TestFuncDeclaredInAFunctionIsRefused(t *testing.T) {
	t.Parallel()
	cases := map[string]func(){
		"Func": func() {
			actor.Func("test.local", func(ctx context.Context, x int) (int, error) { return x, nil })
		},
		"StreamFunc": func() {
			actor.StreamFunc("test.localStream", func(ctx context.Context, x int, out chan<- int) error { return nil })
		},
		"DuplexFunc": func() {
			actor.DuplexFunc("test.localDuplex", func(ctx context.Context, in <-chan int, out chan<- int) error { return nil })
		},
	}
	for name, declare := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			msg := panicMessage(declare)
			require.Contains(t, msg, "package-level variable", "refused on every backend, with the fix")
			require.Contains(t, msg, "test.local")
		})
	}
}

func TestUnknownFunctionSaysHowToDeclare(t *testing.T) {
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		_, err := actor.CallByName[int](ctx, ref, "test.noSuchFunction", 1)
		require.ErrorIs(t, err, actor.ErrUnknownFunction)
		require.ErrorContains(t, err, "package-level variable")
	})
}
