package actor_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
)

func TestValuesDecodeStrictly(t *testing.T) {
	cases := []struct {
		name     string
		call     func(ctx context.Context, ref *actor.Ref) error
		badArg   bool
		contains string
	}{{
		name: "an argument that overflows",
		call: func(ctx context.Context, ref *actor.Ref) error {
			_, err := actor.CallByName[int8](ctx, ref, "test.half", 300)
			return err
		},
		badArg: true, contains: "300 does not fit in int8",
	}, {
		name: "a value for an interface field",
		call: func(ctx context.Context, ref *actor.Ref) error {
			_, err := actor.CallByName[bool](ctx, ref, "test.readerIsNil", map[string]any{"R": map[string]int{"x": 1}})
			return err
		},
		badArg: true, contains: "io.Reader",
	}, {
		name: "a result that overflows",
		call: func(ctx context.Context, ref *actor.Ref) error {
			_, err := actor.CallByName[int8](ctx, ref, "test.square", 20)
			return err
		},
		contains: "test.square result",
	}}
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				err := c.call(ctx, ref)
				require.Error(t, err)
				if c.badArg {
					require.ErrorIs(t, err, actor.ErrBadArgument)
				}
				require.ErrorContains(t, err, c.contains)
			})
		}
		got, err := half.Call(ctx, ref, -128)
		require.NoError(t, err, "the actor lives on")
		require.Equal(t, int8(-64), got)
	})
}

// hiding has a field msgpack would drop without a word.
type hiding struct {
	Shown  int
	hidden int
}

// deepHiding hides it deeper.
type deepHiding struct {
	Items map[string][]*hiding
}

func TestFuncRefusesTypesThatLoseFields(t *testing.T) {
	t.Parallel()
	cases := map[string]func(){
		"input": func() {
			actor.Func("test.hidingIn", func(ctx context.Context, h hiding) (int, error) { return h.hidden, nil })
		},
		"output, nested": func() {
			actor.Func("test.hidingOut", func(ctx context.Context, _ int) (deepHiding, error) { return deepHiding{}, nil })
		},
		"stream item": func() {
			actor.StreamFunc("test.hidingStream", func(ctx context.Context, _ int, out chan<- hiding) error { return nil })
		},
		"duplex input": func() {
			actor.DuplexFunc("test.hidingDuplex", func(ctx context.Context, in <-chan *hiding, out chan<- int) error { return nil })
		},
	}
	for name, declare := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			msg := panicMessage(declare)
			require.Contains(t, msg, "unexported field hidden")
			require.Contains(t, msg, "msgpack:\"-\"", "the message says the fix")
		})
	}
}
