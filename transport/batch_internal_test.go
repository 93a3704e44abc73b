package transport

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestItemLenMatchesTheScan checks the fast path that slices a Batch's
// items against the full scan, for every kind of msgpack value.
func TestItemLenMatchesTheScan(t *testing.T) {
	t.Parallel()
	for _, v := range []any{
		0, 127, -1, -32, -33, 200, 1 << 20, int64(-1 << 40), uint64(1 << 63), 1.5, float32(2.5),
		nil, true, false, "", "hi", string(make([]byte, 31)), string(make([]byte, 300)), string(make([]byte, 70000)),
		[]byte{}, make([]byte, 16), make([]byte, 300), []int{}, []int{1, 2}, make([]int, 20), map[string]int{"a": 1},
		map[string]int{}, [][]int{{1}, {2, 3}}, msgpack.RawMessage{0xd4, 1, 2}, msgpack.RawMessage{0xc7, 1, 5, 0},
	} {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		tail := append(b, 0x01, 0x02)
		n, err := scanValue(tail, MaxDepth)
		require.NoError(t, err)
		require.Equal(t, n, itemLen(tail), "%T %v", v, v)
		require.Equal(t, len(b), n)
	}
	require.Zero(t, itemLen(nil))
	require.Zero(t, itemLen([]byte{0xc1}))
}

// TestRecvManyTakesAnArrivedBatchWithoutAllocating takes the items of a
// Batch that has arrived with RecvMany, as its doc promises: copied into
// the caller's buffer, with no allocation.
func TestRecvManyTakesAnArrivedBatchWithoutAllocating(t *testing.T) { // not parallel: it counts allocations
	c := &Conn{cfg: config{window: 1 << 30}, done: make(chan struct{})}
	s := newStream(c, 1, true, 0)
	items, err := msgpack.Marshal([]int{1, 2, 3, 4})
	require.NoError(t, err)
	n, off, err := batchHeader(items)
	require.NoError(t, err)
	batch := &Message{Kind: KindBatch, ID: 1}
	buf := make([]Message, 0, 8)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		batch.Payload, batch.left = items[off:], n
		s.in.push(batch)
		buf, err = s.RecvMany(ctx, buf[:0])
	})
	require.NoError(t, err)
	require.Len(t, buf, n)
	require.Equal(t, msgpack.RawMessage{4}, buf[n-1].Payload)
	require.Zero(t, allocs)
}
