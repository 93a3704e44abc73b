package actor_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/actor"
)

// small has a field msgpack truncates without the strict decoding.
type small struct{ N int8 }

// withError has an error field: it crosses as its message.
type withError struct {
	Err error
	R   io.Reader // nil, or a value that does not cross
}

var (
	smallN = actor.Func("test.smallN", func(ctx context.Context, s small) (int8, error) { return s.N, nil })

	errorText = actor.Func("test.errorText", func(ctx context.Context, w withError) (string, error) {
		if w.Err == nil {
			return "", nil
		}
		return w.Err.Error(), nil
	})

	// errorOf returns its text as an error, or, for "", a value that does
	// not decode.
	errorOf = actor.Func("test.errorOf", func(ctx context.Context, text string) (withError, error) {
		if text == "" {
			return withError{R: strings.NewReader("x")}, nil
		}
		return withError{Err: errors.New(text)}, nil
	})
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
		name: "a field named in binary",
		call: func(ctx context.Context, ref *actor.Ref) error {
			_, err := smallN.Call(ctx, ref, small{}) // the right type, the wrong bytes:
			require.NoError(t, err)
			_, err = actor.CallByName[int8](ctx, ref, "test.smallN", msgpack.RawMessage{0x81, 0xc4, 1, 'N', 0xcd, 0x01, 0x2c})
			return err
		},
		badArg: true, contains: "field N: 300 does not fit in int8",
	}, {
		name: "a batch result with a value for an interface field",
		call: func(ctx context.Context, ref *actor.Ref) error {
			outs, errs, err := actor.CallBatch(ctx, ref, errorOf, []string{"a", "", "b"})
			require.NoError(t, err)
			require.NoError(t, errs[0])
			require.NoError(t, errs[2])
			require.EqualError(t, outs[0].Err, "a", "an error crosses as its message")
			require.EqualError(t, outs[2].Err, "b")
			return errs[1]
		},
		contains: "interface type io.Reader",
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
		text, err := errorText.Call(ctx, ref, withError{Err: errors.New("boom")})
		require.NoError(t, err, "an error crosses as its message")
		require.Equal(t, "boom", text)
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

// embedsPointer embeds an unexported pointer: msgpack would panic setting it.
type embedsPointer struct {
	*hiding
	Y int
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
		"embedded pointer": func() {
			actor.Func("test.embedsPointer", func(ctx context.Context, e embedsPointer) (int, error) { return e.Y, nil })
		},
	}
	for name, declare := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			msg := panicMessage(declare)
			require.Contains(t, msg, "unexported")
			require.Contains(t, msg, "msgpack:\"-\"", "the message says the fix")
		})
	}
}
