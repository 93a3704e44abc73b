//go:build unix

package transport_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// TestYieldManyStopsAtTheCreditAndTheBatchLimit yields a run of 3 windows
// of items at once to a raw peer that offers batches of 4: the frames may
// hold 4 items at most, only a window of them may leave before a Credit,
// and YieldMany returns only once every item is queued, in order.
func TestYieldManyStopsAtTheCreditAndTheBatchLimit(t *testing.T) {
	t.Parallel()
	const window, n = 10, 30
	var returned atomic.Bool
	_, gated, raw := batchPeer(t, 4, window, func(s *transport.Stream) {
		ctx := context.Background()
		items := make([]any, n)
		for i := range items {
			v := i
			items[i] = &v // a pointer encodes as its item
		}
		if sent, err := s.YieldMany(ctx, items); err != nil || sent != n {
			return
		}
		returned.Store(true)
		_ = s.Return(ctx, nil)
	})
	gated.release()
	_, err := raw.Write(frameOf(t, []any{2, 1, "run", nil}))
	require.NoError(t, err)
	var got []int
	for len(got) < window {
		body, err := transport.ReadFrame(raw, 1<<20)
		require.NoError(t, err)
		m, err := transport.DecodeMessage(body)
		require.NoError(t, err)
		require.Equal(t, transport.KindBatch, m.Kind)
		var items []int
		require.NoError(t, m.Decode(&items))
		require.LessOrEqual(t, len(items), 4, "no Batch beyond the peer's offer")
		got = append(got, items...)
	}
	require.Len(t, got, window, "no frame went past the window")
	require.False(t, returned.Load(), "YieldMany waits for the credit of the rest")
	_, err = raw.Write(frameOf(t, []any{9, 1, 2 * window}))
	require.NoError(t, err)
	frames, _ := readItems(t, raw, 1)
	for _, items := range frames {
		require.LessOrEqual(t, len(items), 4)
		got = append(got, items...)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	require.Equal(t, want, got)
}
