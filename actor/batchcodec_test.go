package actor_test

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// roundTrip checks that T's batch codec writes what msgpack writes for vs,
// byte for byte, and reads it back.
func roundTrip[T any](t *testing.T, vs []T) {
	t.Helper()
	want, err := msgpack.Marshal(vs)
	require.NoError(t, err)
	got, ok := actor.EncodeItems(vs)
	require.True(t, ok, "%T has a codec", vs)
	require.Equal(t, want, got, "%T: msgpack's bytes", vs)
	back, ok := actor.DecodeItems[T](want)
	require.True(t, ok, "%T: read", vs)
	require.Equal(t, vs, back)
}

func TestBatchCodecWritesWhatMsgpackWrites(t *testing.T) {
	t.Parallel()
	roundTrip(t, []int{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxInt32, math.MaxInt32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64})
	roundTrip(t, []int64{0, -1, math.MaxInt64, math.MinInt64})
	roundTrip(t, []int32{0, -1, math.MaxInt32, math.MinInt32})
	roundTrip(t, []int16{0, -1, math.MaxInt16, math.MinInt16})
	roundTrip(t, []int8{0, -1, math.MaxInt8, math.MinInt8})
	roundTrip(t, []uint{0, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint})
	roundTrip(t, []uint64{0, math.MaxUint64})
	roundTrip(t, []uint32{0, math.MaxUint32})
	roundTrip(t, []uint16{0, math.MaxUint16})
	roundTrip(t, []float64{0, -1.5, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(-1)})
	roundTrip(t, []float32{0, -1.5, math.MaxFloat32, float32(math.Inf(1))})
	roundTrip(t, []bool{true, false})
	roundTrip(t, []string{"", "a", strings.Repeat("b", 31), strings.Repeat("c", 32), strings.Repeat("d", 256), strings.Repeat("e", 65536), "ünïcode"})
	roundTrip(t, [][]byte{nil, {}, {1, 2}, bytes.Repeat([]byte{3}, 256), bytes.Repeat([]byte{4}, 65536)})
	many := make([]int, 70000) // an array32 header
	for i := range many {
		many[i] = i - 35000
	}
	roundTrip(t, many)
	_, ok := actor.EncodeItems([]struct{ A int }{{1}})
	require.False(t, ok, "a struct takes msgpack's path")
	type named int // may have its own marshaller: msgpack's path
	_, ok = actor.EncodeItems([]named{1})
	require.False(t, ok, "a named type takes msgpack's path")
}

// What the codec does not read exactly as strict decoding would, it leaves
// to msgpack's strict path, which gives each item its exact error.
func TestBatchCodecLeavesTheRestToMsgpack(t *testing.T) {
	t.Parallel()
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"300 into int8", decodes[int8](enc([]int{1, 300}))},
		{"-1 into uint", decodes[uint](enc([]int{-1}))},
		{"MaxUint64 into int", decodes[int](enc([]uint64{math.MaxUint64}))},
		{"MaxUint64 into uint32", decodes[uint32](enc([]uint64{math.MaxUint64}))},
		{"a float into int", decodes[int](enc([]float64{1.5}))},
		{"nil into int", decodes[int](enc([]any{nil}))},
		{"a float64 into float32", decodes[float32](enc([]float64{1e300}))},
		{"an int into float64", decodes[float64](enc([]int{1}))},
		{"a string into []byte", decodes[[]byte](enc([]string{"a"}))},
		{"bytes into string", decodes[string](enc([][]byte{{'a'}}))},
		{"nil into bool", decodes[bool](enc([]any{nil}))},
		{"a map, not an array", decodes[int](enc(map[string]int{"a": 1}))},
		{"cut short", decodes[string](enc([]string{"abc"})[:3])},
	} {
		require.False(t, tc.ok, tc.name)
	}
}

func decodes[T any](b []byte) bool {
	_, ok := actor.DecodeItems[T](b)
	return ok
}

// A grove.batch call that is not what CallBatch or StartBatch sends gets a
// clear error, and the actor serves on.
func TestMalformedBatchCalls(t *testing.T) {
	t.Parallel()
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "batches")
		if err != nil {
			return err
		}
		for _, tc := range []struct {
			name string
			args any
			want error
		}{
			{"no arguments", []any{"test.square"}, actor.ErrBadArgument},
			{"not an array", "test.square", actor.ErrBadArgument},
			{"a name that is not a string", []any{1, []int{1}}, actor.ErrBadArgument},
			{"arguments that are not an array", []any{"test.square", 1}, actor.ErrBadArgument},
			{"a place in the queue that is not a number", []any{"test.square", "x", []int{1}}, actor.ErrBadArgument},
			{"an unknown function", []any{"test.nothing", []int{1}}, actor.ErrUnknownFunction},
		} {
			cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := actor.CallByName[msgpack.RawMessage](cctx, ref, "grove.batch", tc.args)
			cancel()
			require.ErrorIs(t, err, tc.want, tc.name)
		}
		outs, errs, err := actor.CallBatch(ctx, ref, square, []int{2, 3})
		require.NoError(t, err)
		require.Equal(t, []int{4, 9}, outs)
		require.Equal(t, []error{nil, nil}, errs)
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
}
