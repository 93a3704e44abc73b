package actor_test

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
)

// The items of the basic types cross a stream through the typed codec in
// both processes (no msgpack reflection); these cover its encodings'
// edges: every size class of []byte, nil and empty, and the extremes of
// int.
var (
	bytesItems = actor.StreamFunc("test.bytesItems", func(ctx context.Context, _ struct{}, out chan<- []byte) error {
		for _, v := range wantBytesItems() {
			select {
			case out <- v:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	intItems = actor.StreamFunc("test.intItems", func(ctx context.Context, _ struct{}, out chan<- int) error {
		for _, v := range wantIntItems {
			select {
			case out <- v:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
)

func wantBytesItems() [][]byte {
	return [][]byte{nil, {}, {1}, bytes.Repeat([]byte{2}, 255), bytes.Repeat([]byte{3}, 256),
		bytes.Repeat([]byte{4}, 70_000), bytes.Repeat([]byte{5}, 2<<20), {6}}
}

var wantIntItems = []int{0, 1, -1, 127, 128, -32, -33, 255, 256, math.MaxInt16 + 1, math.MinInt32, math.MaxInt, math.MinInt}

func TestStreamItemsOfBasicTypes(t *testing.T) {
	inActor(t, func(ctx context.Context, ref *actor.Ref) {
		bs, err := bytesItems.Open(ctx, ref, struct{}{})
		require.NoError(t, err)
		var gotBytes [][]byte
		for v := range bs.C {
			gotBytes = append(gotBytes, v)
		}
		require.NoError(t, bs.Err())
		want := wantBytesItems()
		require.Len(t, gotBytes, len(want))
		for i := range want {
			require.Equal(t, want[i] == nil, gotBytes[i] == nil, "item %d: nil stays nil", i)
			require.True(t, bytes.Equal(want[i], gotBytes[i]), "item %d", i)
		}
		is, err := intItems.Open(ctx, ref, struct{}{})
		require.NoError(t, err)
		var gotInts []int
		for v := range is.C {
			gotInts = append(gotInts, v)
		}
		require.NoError(t, is.Err())
		require.Equal(t, wantIntItems, gotInts)
	})
}
