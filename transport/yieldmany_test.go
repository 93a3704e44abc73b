//go:build unix

package transport_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// TestYieldManyMixedRun yields, in one run, items that cannot share a
// Batch (one nested as deeply as a Yield may be, one larger than a Batch
// may be) among small ones, then one that does not encode: every item
// before it arrives, in order, and YieldMany says how many it sent.
func TestYieldManyMixedRun(t *testing.T) {
	t.Parallel()
	var deepest any = 1
	for range transport.MaxDepth - 1 { // with the envelope, MaxDepth levels
		deepest = []any{deepest}
	}
	large := pattern(5, 100<<10)
	run := []any{0, deepest, 2, large, 4, 5, make(chan int), 7}
	payloads, sent, err := yieldManyOnce(t, run)
	var kinds []string
	for _, p := range payloads {
		var v any
		require.NoError(t, msgpack.Unmarshal(p, &v))
		switch v := v.(type) {
		case int8:
			kinds = append(kinds, string(rune('0'+v)))
		case []byte:
			require.Equal(t, large, v)
			kinds = append(kinds, "large")
		default:
			kinds = append(kinds, "deep")
		}
	}
	require.Equal(t, []string{"0", "deep", "2", "large", "4", "5"}, kinds)
	require.Equal(t, 6, sent)
	require.ErrorContains(t, err, "encode Yield")
}

// TestYieldManyCanceledMidRun cancels the call while the callee's
// YieldMany waits for credit in the middle of its run: it must return
// ErrCanceled and count only the items that went out.
func TestYieldManyCanceledMidRun(t *testing.T) {
	t.Parallel()
	const window = 8
	a, b := connPair(t, []transport.Option{transport.WithWindow(window)}, nil)
	type result struct {
		sent int
		err  error
	}
	done := make(chan result, 1)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		items := make([]any, 10*window)
		for i := range items {
			items[i] = i
		}
		sent, err := s.YieldMany(ctx, items)
		done <- result{sent, err}
		_ = s.Fail(ctx, &transport.ErrorInfo{Type: "context.Canceled", Message: "canceled"})
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "run", nil)
	require.NoError(t, err)
	for i := range window { // the first window, then no credit: the run waits
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, transport.KindYield, m.Kind, "item %d", i)
	}
	require.NoError(t, s.Cancel(ctx))
	r := <-done
	require.ErrorIs(t, r.err, transport.ErrCanceled)
	require.GreaterOrEqual(t, r.sent, window)
	require.Less(t, r.sent, 10*window)
}

// TestSmallItemsGrowTheDefaultWindow streams small items to a consumer
// that pauses: with the default window the producer must get more than a
// window ahead (the receiver grants extra credit for small items), never
// more than 16 windows; then items of 600 bytes (128 KiB holds fewer than
// a window of them) bring the window back to DefaultWindow.
func TestSmallItemsGrowTheDefaultWindow(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	const (
		window = transport.DefaultWindow
		small  = 40 * window
		large  = 40 * window
		paused = 4 * window // the consumer pauses after this many items
	)
	var consumed atomic.Int64
	var maxAheadSmall, maxAheadLarge atomic.Int64
	grew := make(chan struct{})
	big := pattern(1, 600)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		for i := range small + large {
			var v any = i
			if i >= small {
				v = big
			}
			if err := s.Yield(ctx, v); err != nil {
				return
			}
			ahead := int64(i+1) - consumed.Load()
			switch {
			case i < small:
				if ahead > maxAheadSmall.Load() {
					maxAheadSmall.Store(ahead)
				}
				if ahead > window+1 && i >= paused {
					select {
					case <-grew:
					default:
						close(grew)
					}
				}
			case i >= small+16*window: // the grown window has come down
				if ahead > maxAheadLarge.Load() {
					maxAheadLarge.Store(ahead)
				}
			}
		}
		_ = s.Return(ctx, nil)
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "grow", nil)
	require.NoError(t, err)
	for {
		if consumed.Load() == paused {
			select {
			case <-grew: // the producer got past a window ahead
			case <-time.After(10 * time.Second):
				t.Fatalf("the producer never got more than a window (%d) ahead", window)
			}
		}
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		if m.Kind != transport.KindYield {
			require.Equal(t, transport.KindReturn, m.Kind)
			break
		}
		consumed.Add(1)
	}
	require.EqualValues(t, small+large, consumed.Load())
	require.Greater(t, maxAheadSmall.Load(), int64(window+1))
	// Recv grants the credit it frees before it returns: one taken item
	// may be uncounted.
	require.LessOrEqual(t, maxAheadSmall.Load(), int64(16*window+1))
	require.LessOrEqual(t, maxAheadLarge.Load(), int64(window+1))
}

// TestYieldManyRawItems yields raw items by pointer, as actor's typed
// codecs do: a valid one joins the Batch, one nested as deeply as a
// Yield's payload may be goes as a Yield, and one that is not a single
// msgpack value is refused with an error, not sent for the peer to choke
// on.
func TestYieldManyRawItems(t *testing.T) {
	t.Parallel()
	deepest := make([]byte, 0, transport.MaxDepth)
	for range transport.MaxDepth - 1 { // with the envelope, MaxDepth levels
		deepest = append(deepest, 0x91)
	}
	deepest = append(deepest, 1)
	raws := []msgpack.RawMessage{{0x05}, deepest, {0xa1, 'x'}, {0x05, 0x06}}
	run := make([]any, len(raws))
	for i := range raws {
		run[i] = &raws[i]
	}
	got, sent, err := yieldManyOnce(t, run)
	require.Equal(t, raws[:3], got)
	require.Equal(t, 3, sent)
	require.ErrorContains(t, err, "raw payload is not one valid msgpack value")
}

// yieldManyOnce has a callee send run with one YieldMany, then Return, and
// returns the payloads the caller received, in order, and what YieldMany
// returned.
func yieldManyOnce(t *testing.T, run []any) (payloads []msgpack.RawMessage, sent int, err error) {
	t.Helper()
	a, b := connPair(t, nil, nil)
	type result struct {
		sent int
		err  error
	}
	done := make(chan result, 1)
	stop := serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		sent, err := s.YieldMany(ctx, run)
		done <- result{sent, err}
		_ = s.Return(ctx, nil)
	})
	defer stop()
	s, err := a.Call(context.Background(), "run", nil)
	require.NoError(t, err)
	for range len(run) + 1 {
		m, err := s.Recv(context.Background())
		require.NoError(t, err)
		if m.Kind == transport.KindReturn {
			r := <-done
			return payloads, r.sent, r.err
		}
		require.Equal(t, transport.KindYield, m.Kind)
		payloads = append(payloads, append(msgpack.RawMessage(nil), m.Payload...))
	}
	t.Fatal("no Return")
	return nil, 0, nil
}

// TestYieldManyRawPointerEdges yields raw items by pointer that the run's
// raw path does not take: an empty one stands for nil, as an empty
// msgpack.RawMessage does, and one that is not a msgpack value is refused
// before it reaches the frame. On the old code the empty one went into
// the Batch as an item of no bytes, a frame the peer refused, and the
// invalid one went out as it was.
func TestYieldManyRawPointerEdges(t *testing.T) {
	t.Parallel()
	empty, bad := msgpack.RawMessage{}, msgpack.RawMessage{0xc1}
	payloads, sent, err := yieldManyOnce(t, []any{1, &empty, 3, &bad, 5})
	require.ErrorContains(t, err, "raw payload is not one valid msgpack value")
	require.Equal(t, 3, sent)
	require.Len(t, payloads, 3)
	require.Equal(t, msgpack.RawMessage{0xc0}, payloads[1], "an empty raw item is nil")
}

// TestYieldRawPointerChecked gives Yield a *msgpack.RawMessage that is not
// one msgpack value: it is refused, as the msgpack.RawMessage itself is,
// and the connection goes on (on the old code the bytes went out as they
// were and the peer failed the connection).
func TestYieldRawPointerChecked(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	errs := make(chan error, 1)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		bad := msgpack.RawMessage{0x92, 0x01} // an array of two with one item
		errs <- s.Yield(ctx, &bad)
		_ = s.Return(ctx, 7)
	})()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := a.Call(ctx, "run", nil)
	require.NoError(t, err)
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	require.ErrorContains(t, <-errs, "raw payload is not one valid msgpack value")
}
