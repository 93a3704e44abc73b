//go:build unix

package transport_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// batchPeer is a hand-driven initiator that offers batches of up to batch
// items and a window of window items: it handshakes with a Conn (the
// responder, over a gatedConn armed once the handshake is done) whose
// handler is handler, and returns the Conn, its gate and the raw socket.
func batchPeer(t *testing.T, batch, window uint32, handler func(*transport.Stream)) (*transport.Conn, *gatedConn, net.Conn) {
	t.Helper()
	raw, fb := rawSocket(t)
	nc, err := net.FileConn(fb)
	require.NoError(t, err)
	fb.Close()
	gated := &gatedConn{Conn: nc, gate: make(chan struct{}), entered: make(chan struct{})}
	t.Cleanup(gated.release)
	done := make(chan error, 1)
	go func() {
		hello := &transport.Message{Kind: transport.KindHello, Hello: &transport.Hello{
			Version: transport.Version, Actor: transport.ActorID{Name: "raw"}, Initiator: true,
			Window: window, MaxFrame: 16 << 20, Batch: batch,
		}}
		out, err := transport.AppendFrame([]byte(transport.Preface), hello)
		if err == nil {
			_, err = raw.Write(out)
		}
		if err == nil {
			_, err = io.ReadFull(raw, make([]byte, len(transport.Preface)))
		}
		if err == nil {
			_, err = transport.ReadFrame(raw, 1<<20)
		}
		done <- err
	}()
	c, err := transport.NewConn(context.Background(), gated, transport.Responder, transport.WithHandler(handler))
	require.NoError(t, err)
	require.NoError(t, <-done)
	t.Cleanup(func() { c.Close() })
	require.Equal(t, batch, c.Peer().Batch)
	gated.armed.Store(true)
	return c, gated, raw
}

// readItems reads frames off raw until stream id's Return and returns the
// items of each frame (a Yield counts as a batch of one), decoded as ints.
func readItems(t *testing.T, raw net.Conn, id uint64) (frames [][]int, kinds []transport.Kind) {
	t.Helper()
	for range 100_000 {
		body, err := transport.ReadFrame(raw, 1<<20)
		require.NoError(t, err)
		m, err := transport.DecodeMessage(body)
		require.NoError(t, err)
		require.Equal(t, id, m.ID)
		kinds = append(kinds, m.Kind)
		switch m.Kind {
		case transport.KindYield:
			var v int
			require.NoError(t, m.Decode(&v))
			frames = append(frames, []int{v})
		case transport.KindBatch:
			var items []int
			require.NoError(t, m.Decode(&items))
			frames = append(frames, items)
		case transport.KindReturn:
			return frames, kinds
		}
	}
	t.Fatal("no Return")
	return nil, nil
}

// TestYieldsQueuedBehindAWriteLeaveInBatches holds the writer's first
// write while a callee yields: the items queued meanwhile must leave in
// Batch frames of at most the peer's offer, in order, and then the Return.
func TestYieldsQueuedBehindAWriteLeaveInBatches(t *testing.T) {
	t.Parallel()
	const n, offer = 100, 8
	yielded := make(chan error, 1)
	_, gated, raw := batchPeer(t, offer, 1000, func(s *transport.Stream) {
		ctx := context.Background()
		for i := range n {
			if err := s.Yield(ctx, i); err != nil {
				yielded <- err
				return
			}
		}
		yielded <- nil
		_ = s.Return(ctx, n)
	})
	_, err := raw.Write(frameOf(t, []any{2, 1, "count", nil}))
	require.NoError(t, err)
	<-gated.entered // the first item's write is held: the rest queue behind it
	require.NoError(t, <-yielded)
	gated.release()

	frames, kinds := readItems(t, raw, 1)
	var all []int
	for _, items := range frames {
		require.LessOrEqual(t, len(items), offer, "a Batch holds at most the peer's offer")
		all = append(all, items...)
	}
	for i, v := range all {
		require.Equal(t, i, v, "items arrive in order")
	}
	require.Len(t, all, n)
	// The held write has the frames queued before the write loop took the
	// queue, the last of them cut short by the take (a loop slow to start
	// takes several); every later one is full but the last.
	short := -1
	for i, items := range frames[:len(frames)-1] {
		if len(items) < offer {
			require.Equal(t, -1, short, "one Batch at most is cut short, where the write loop took the queue: %v", frames)
			short = i
		}
	}
	require.Equal(t, transport.KindBatch, kinds[len(kinds)-2])
	require.Equal(t, transport.KindReturn, kinds[len(kinds)-1])
}

// TestBatchesStopAtTheCredit checks that batching never sends more items
// than the peer's window: with a window of 10 the callee's 11th Yield
// waits until the peer grants credit, and the frames before it hold
// exactly 10 items.
func TestBatchesStopAtTheCredit(t *testing.T) {
	t.Parallel()
	const window = 10
	var returned atomic.Int64
	_, gated, raw := batchPeer(t, 64, window, func(s *transport.Stream) {
		ctx := context.Background()
		for i := range 3 * window {
			if err := s.Yield(ctx, i); err != nil {
				return
			}
			returned.Add(1)
		}
		_ = s.Return(ctx, nil)
	})
	gated.release()
	_, err := raw.Write(frameOf(t, []any{2, 1, "count", nil}))
	require.NoError(t, err)
	got := 0
	for got < window {
		body, err := transport.ReadFrame(raw, 1<<20)
		require.NoError(t, err)
		m, err := transport.DecodeMessage(body)
		require.NoError(t, err)
		var items []int
		switch m.Kind {
		case transport.KindBatch:
			require.NoError(t, m.Decode(&items))
		case transport.KindYield:
			items = []int{0}
		default:
			t.Fatalf("unexpected %s", m.Kind)
		}
		got += len(items)
	}
	require.Equal(t, window, got, "no frame went past the window")
	require.LessOrEqual(t, returned.Load(), int64(window), "the Yield past the window waits for credit")
	_, err = raw.Write(frameOf(t, []any{9, 1, 2 * window}))
	require.NoError(t, err)
	frames, _ := readItems(t, raw, 1)
	rest := 0
	for _, items := range frames {
		rest += len(items)
	}
	require.Equal(t, 2*window, rest)
}

// TestPeerWithoutBatchesGetsYields streams to a Conn that offers no
// batches, as a peer that predates them: it must be sent only Yields (a
// Batch would end its connection with a protocol error), and a peer that
// offers them still receives batches from it never.
func TestPeerWithoutBatchesGetsYields(t *testing.T) {
	t.Parallel()
	old, cur := connPair(t, []transport.Option{transport.WithoutBatches()}, nil)
	require.Zero(t, cur.Peer().Batch)
	require.EqualValues(t, transport.MaxBatchItems, old.Peer().Batch)
	const n = 2000
	stream := func(s *transport.Stream) {
		ctx := context.Background()
		for i := range n {
			if err := s.Yield(ctx, i); err != nil {
				return
			}
		}
		_ = s.Return(ctx, nil)
	}
	defer serve(cur, stream)()
	defer serve(old, stream)()
	for _, c := range []*transport.Conn{old, cur} {
		s, err := c.Call(context.Background(), "count", nil)
		require.NoError(t, err)
		requireCount(t, s, n)
	}
	require.NoError(t, old.Err())
	require.NoError(t, cur.Err())
}

// requireCount reads the items 0..n-1 in order, then the Return, with
// RecvMany.
func requireCount(t *testing.T, s *transport.Stream, n int) {
	t.Helper()
	ctx := context.Background()
	next := 0
	buf := make([]transport.Message, 0, 64)
	for range n + 1 {
		msgs, err := s.RecvMany(ctx, buf[:0])
		require.NoError(t, err)
		require.NotEmpty(t, msgs)
		for _, m := range msgs {
			if m.Kind == transport.KindReturn {
				require.Equal(t, n, next)
				return
			}
			require.Equal(t, transport.KindYield, m.Kind)
			var v int
			require.NoError(t, m.Decode(&v))
			require.Equal(t, next, v, "items arrive in order")
			next++
		}
	}
	t.Fatal("no Return")
}

// TestRecvManyGrantsCredit reads a stream with a small window through
// RecvMany only: the credit of the Yields it takes in runs must reach the
// producer, or the stream stalls.
func TestRecvManyGrantsCredit(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, []transport.Option{transport.WithWindow(3)}, nil)
	const n = 1000
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		for i := range n {
			if err := s.Yield(ctx, i); err != nil {
				return
			}
		}
		_ = s.Return(ctx, nil)
	})()
	s, err := a.Call(context.Background(), "count", nil)
	require.NoError(t, err)
	requireCount(t, s, n)
	_, err = s.RecvMany(context.Background(), nil)
	require.ErrorIs(t, err, io.EOF)
}

// TestStopAndCancelMidBatch sends a duplex stream's items and its Stop
// back to back, so the Stop is queued behind an open Batch: the callee
// must see every item, then the Stop; then the caller cancels while the
// callee's items are being batched, and the callee's Yield fails with
// ErrCanceled as for single items.
func TestStopAndCancelMidBatch(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	const n = 500
	yieldErr := make(chan error, 1)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		next := 0
		for {
			m, err := s.Recv(ctx)
			if err != nil || m.Kind == transport.KindStop {
				break
			}
			var v int
			if m.Decode(&v) != nil || v != next {
				break
			}
			next++
		}
		if next != n {
			_ = s.Fail(ctx, &transport.ErrorInfo{Type: "order", Message: "items lost or out of order"})
			return
		}
		for i := 0; ; i++ {
			if err := s.Yield(ctx, i); err != nil {
				yieldErr <- err
				_ = s.Fail(ctx, &transport.ErrorInfo{Type: "context.Canceled", Message: err.Error()})
				return
			}
		}
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "duplex", nil)
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, s.Yield(ctx, i))
	}
	require.NoError(t, s.Stop(ctx))
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindYield, m.Kind, "the callee saw every item, in order, then Stop: %v", m.Err)
	require.NoError(t, s.Cancel(ctx))
	require.ErrorIs(t, <-yieldErr, transport.ErrCanceled)
	for range 100_000 {
		m, err = s.Recv(ctx)
		require.NoError(t, err)
		if m.Kind != transport.KindYield {
			break
		}
	}
	require.Equal(t, transport.KindError, m.Kind)
	require.Equal(t, transport.ErrCanceled.Error(), m.Err.Message)
}

// array32 is the header of a msgpack array of n items in its widest form.
func array32(n uint32) []byte {
	return []byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// TestHostileBatches sends malformed or excessive Batch frames to a Conn:
// each ends the connection with a protocol error that says what was wrong,
// and nothing is allocated for an announced count the frame does not hold.
func TestHostileBatches(t *testing.T) {
	t.Parallel()
	call := func(t *testing.T) []byte { return frameOf(t, []any{2, 1, "sink", nil}) }
	items := func(n int) []any {
		v := make([]any, n)
		for i := range v {
			v[i] = i
		}
		return v
	}
	for _, c := range []struct {
		name  string
		opts  []transport.Option
		frame func(t *testing.T) []byte
		want  string
	}{
		{"to a peer that offered none", []transport.Option{transport.WithoutBatches()},
			func(t *testing.T) []byte { return frameOf(t, []any{10, 1, items(2)}) }, "offered no batches"},
		{"over the offer", nil,
			func(t *testing.T) []byte { return frameOf(t, []any{10, 1, items(transport.MaxBatchItems + 1)}) }, "more than the 1024 offered"},
		{"beyond the credit", []transport.Option{transport.WithWindow(4)},
			func(t *testing.T) []byte { return frameOf(t, []any{10, 1, items(5)}) }, "beyond the granted credit"},
		{"empty", nil,
			func(t *testing.T) []byte { return frameOf(t, []any{10, 1, []any{}}) }, "0 items"},
		{"not an array", nil,
			func(t *testing.T) []byte { return frameOf(t, []any{10, 1, "x"}) }, "not an array"},
		{"a count the frame does not hold", nil,
			func(t *testing.T) []byte {
				body := append([]byte{0x93, 10, 1}, array32(1<<32-1)...)
				return append([]byte{0, 0, 0, byte(len(body))}, body...)
			}, "runs past the end"},
		{"after Stop", nil,
			func(t *testing.T) []byte {
				return append(frameOf(t, []any{5, 1}), frameOf(t, []any{10, 1, items(2)})...)
			}, "Batch after Stop"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conn, raw := established(t, append(c.opts, transport.WithHandler(func(s *transport.Stream) {
				for {
					if _, err := s.Recv(context.Background()); err != nil {
						return
					}
				}
			}))...)
			_, err := raw.Write(append(call(t), c.frame(t)...))
			require.NoError(t, err)
			err = waitErr(t, conn)
			require.ErrorIs(t, err, transport.ErrProtocol)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestBatchFramesRoundTrip checks the exported codec on Batch frames: what
// AppendFrame writes, DecodeMessage reads back, and a Batch whose payload
// is not an array of at least one item is refused before anything is
// written.
func TestBatchFramesRoundTrip(t *testing.T) {
	t.Parallel()
	items, err := msgpack.Marshal([]any{1, "two", []int{3}})
	require.NoError(t, err)
	m := &transport.Message{Kind: transport.KindBatch, ID: 7, Payload: items}
	frame, err := transport.AppendFrame(nil, m)
	require.NoError(t, err)
	got, err := transport.DecodeMessage(frame[4:])
	require.NoError(t, err)
	require.Equal(t, m.Kind, got.Kind)
	require.Equal(t, m.ID, got.ID)
	require.Equal(t, []byte(items), []byte(got.Payload))
	for _, p := range [][]byte{nil, {0x90}, {0x01}} {
		_, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindBatch, ID: 7, Payload: p})
		require.Error(t, err, "payload % x", p)
	}
	require.Equal(t, "Batch", transport.KindBatch.String())

	// PROTOCOL.md section 5.4's example, in both of its forms.
	frame, err = transport.AppendFrame(nil, &transport.Message{Kind: transport.KindBatch, ID: 3, Payload: []byte{0x92, 0xa2, 'h', 'i', 0x07}})
	require.NoError(t, err)
	require.Equal(t, []byte{0, 0, 0, 0x08, 0x93, 0x0a, 0x03, 0x92, 0xa2, 0x68, 0x69, 0x07}, frame)
	wide := []byte{0, 0, 0, 0x0c, 0x93, 0x0a, 0x03, 0xdd, 0, 0, 0, 0x02, 0xa2, 0x68, 0x69, 0x07}
	got, err = transport.DecodeMessage(wide[4:])
	require.NoError(t, err)
	var pair []any
	require.NoError(t, got.Decode(&pair))
	require.Equal(t, []any{"hi", int8(7)}, pair)
}

// TestItemAtTheDepthLimitGoesAsAYield yields an item nested as deeply as
// a Yield frame allows, one level more than fits in a Batch: it must go
// out (as a Yield) and arrive, between batched items, in order; one level
// deeper is refused before sending, as for a Yield.
func TestItemAtTheDepthLimitGoesAsAYield(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	nest := func(levels int) any {
		var v any = 1
		for range levels {
			v = []any{v}
		}
		return v
	}
	deepest := nest(transport.MaxDepth - 1) // with the envelope, MaxDepth levels
	refused := make(chan error, 1)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		refused <- s.Yield(ctx, nest(transport.MaxDepth))
		for _, v := range []any{0, deepest, 2} {
			if err := s.Yield(ctx, v); err != nil {
				return
			}
		}
		_ = s.Return(ctx, nil)
	})()
	s, err := a.Call(context.Background(), "deep", nil)
	require.NoError(t, err)
	require.ErrorContains(t, <-refused, "nested deeper than")
	var got []int
	for range 4 {
		m, err := s.Recv(context.Background())
		require.NoError(t, err)
		if m.Kind == transport.KindReturn {
			break
		}
		var v any
		require.NoError(t, m.Decode(&v))
		if n, ok := v.(int8); ok {
			got = append(got, int(n))
		} else {
			got = append(got, -1) // the deep one
		}
	}
	require.Equal(t, []int{0, -1, 2}, got)
}

// TestRawItemAtTheDepthLimitGoesAsAYield is TestItemAtTheDepthLimitGoesAsAYield
// for an item given as raw msgpack: nested as deeply as a Yield's payload
// may be, it does not fit in a Batch, so it must go as a Yield, not as a
// Batch the peer refuses as too deep (ending the connection).
func TestRawItemAtTheDepthLimitGoesAsAYield(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	deepest := make([]byte, 0, transport.MaxDepth)
	for range transport.MaxDepth - 1 {
		deepest = append(deepest, 0x91) // fixarray of one
	}
	deepest = append(deepest, 0x01)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		for _, v := range []any{0, msgpack.RawMessage(deepest), 2} {
			if err := s.Yield(ctx, v); err != nil {
				return
			}
		}
		_ = s.Return(ctx, nil)
	})()
	s, err := a.Call(context.Background(), "deep", nil)
	require.NoError(t, err)
	var kinds []transport.Kind
	var deep []byte
	for range 4 {
		m, err := s.Recv(context.Background())
		require.NoError(t, err, "after %v", kinds)
		kinds = append(kinds, m.Kind)
		if len(kinds) == 2 {
			deep = m.Payload
		}
		if m.Kind == transport.KindReturn {
			break
		}
	}
	require.Equal(t, []transport.Kind{transport.KindYield, transport.KindYield, transport.KindYield, transport.KindReturn}, kinds)
	require.Equal(t, deepest, []byte(deep))
}

// TestItemThatFitsAYieldFrameButNotABatchOne yields an item whose Yield
// frame is exactly the peer's max_frame: as a Batch of one it would be 5
// bytes over, so it must go as a Yield, as it would to a peer that offered
// no batches, not be refused with ErrFrameTooLarge.
func TestItemThatFitsAYieldFrameButNotABatchOne(t *testing.T) {
	t.Parallel()
	const maxFrame = 2048
	a, b := connPair(t, []transport.Option{transport.WithMaxFrame(maxFrame)}, nil)
	item := make([]byte, maxFrame-6) // 93 04 01 c5 hi lo, then the bytes
	for i := range item {
		item[i] = byte(i)
	}
	yielded := make(chan error, 1)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		err := s.Yield(ctx, item)
		yielded <- err
		if err == nil {
			err = s.Yield(ctx, append(item, 0)) // one byte over a Yield's limit too
		}
		yielded <- err
		_ = s.Return(ctx, nil)
	})()
	s, err := a.Call(context.Background(), "edge", nil)
	require.NoError(t, err)
	require.NoError(t, <-yielded)
	err = <-yielded
	require.ErrorIs(t, err, transport.ErrFrameTooLarge)
	require.ErrorContains(t, err, fmt.Sprintf("of %d bytes, the peer's limit is %d", maxFrame+1, maxFrame))
	m, err := s.Recv(context.Background())
	require.NoError(t, err)
	require.Equal(t, transport.KindYield, m.Kind)
	var got []byte
	require.NoError(t, m.Decode(&got))
	require.Equal(t, item, got)
	m, err = s.Recv(context.Background())
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
}

// TestBatchUnofferedOnAnEndedStream sends a Batch to a side that offered
// none, on a stream that has already ended: a Batch is a violation from
// such a peer whatever its stream (PROTOCOL.md section 5.4), not a late
// message to drop. The Call after it must not be answered.
func TestBatchUnofferedOnAnEndedStream(t *testing.T) {
	t.Parallel()
	conn, raw := established(t, transport.WithoutBatches(), transport.WithHandler(func(s *transport.Stream) {
		_ = s.Return(context.Background(), nil)
	}))
	_, err := raw.Write(frameOf(t, []any{2, 1, "f", nil}))
	require.NoError(t, err)
	body, err := transport.ReadFrame(raw, 1<<20)
	require.NoError(t, err)
	m, err := transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	_, err = raw.Write(append(frameOf(t, []any{10, 1, []any{1, 2}}), frameOf(t, []any{2, 3, "f", nil})...))
	require.NoError(t, err)
	err = waitErr(t, conn)
	require.ErrorIs(t, err, transport.ErrProtocol)
	require.ErrorContains(t, err, "offered no batches")
}

// TestLargeItemsGoAsYields yields, to a peer that accepts batches, an item
// too large for a Batch between small ones: on the wire it is a Yield of
// its own, byte for byte the one a peer without batches gets, and the
// small items around it are still Batches.
func TestLargeItemsGoAsYields(t *testing.T) {
	t.Parallel()
	large := pattern(3, 20<<10)
	_, gated, raw := batchPeer(t, 8, 1000, func(s *transport.Stream) {
		ctx := context.Background()
		for _, v := range []any{1, large, 2} {
			if err := s.Yield(ctx, v); err != nil {
				return
			}
		}
		_ = s.Return(ctx, nil)
	})
	gated.release()
	_, err := raw.Write(frameOf(t, []any{2, 1, "mixed", nil}))
	require.NoError(t, err)
	p, err := msgpack.Marshal(large)
	require.NoError(t, err)
	want, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindYield, ID: 1, Payload: p})
	require.NoError(t, err)
	var kinds []transport.Kind
	for range 4 {
		body, err := transport.ReadFrame(raw, 1<<20)
		require.NoError(t, err)
		m, err := transport.DecodeMessage(body)
		require.NoError(t, err)
		kinds = append(kinds, m.Kind)
		if m.Kind == transport.KindYield {
			require.Equal(t, want[4:], body)
		}
	}
	require.Equal(t, []transport.Kind{transport.KindBatch, transport.KindYield, transport.KindBatch, transport.KindReturn}, kinds)
}
