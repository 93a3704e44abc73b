//go:build unix

package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

type point struct {
	X, Y int
	Tag  string
}

func echo(s *transport.Stream) {
	ctx := context.Background()
	var p point
	if err := s.DecodeArgs(&p); err != nil {
		_ = s.Fail(ctx, &transport.ErrorInfo{Type: fmt.Sprintf("%T", err), Message: err.Error()})
		return
	}
	_ = s.Return(ctx, p)
}

func TestCallReturn(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, echo)()
	ctx := context.Background()
	s, err := a.Call(ctx, "echo", point{1, 2, "p"})
	require.NoError(t, err)
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	var got point
	require.NoError(t, m.Decode(&got))
	require.Equal(t, point{1, 2, "p"}, got)
	_, err = s.Recv(ctx)
	require.ErrorIs(t, err, io.EOF)
	require.True(t, a.Local().Initiator)
	require.False(t, a.Peer().Initiator)
}

func TestCallError(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, func(s *transport.Stream) {
		_ = s.Fail(context.Background(), &transport.ErrorInfo{
			Type: "*errors.errorString", Message: "boom", Stack: "main.f()",
			Source: transport.ActorID{Name: "worker", ID: "w1", PID: 42},
			Via:    []transport.ActorID{{Name: "mid", ID: "m1", PID: 7}},
			Is:     []string{"io.EOF"},
		})
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "boom", nil)
	require.NoError(t, err)
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindError, m.Kind)
	require.Equal(t, "boom", m.Err.Message)
	require.Equal(t, 42, m.Err.Source.PID)
	require.Equal(t, []string{"io.EOF"}, m.Err.Is)
	require.Equal(t, "mid", m.Err.Via[0].Name)
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, echo)()
	ctx := context.Background()
	const callers, each = 32, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				want := point{g, i, "x"}
				s, err := a.Call(ctx, "echo", want)
				if err != nil {
					errs <- err
					return
				}
				m, err := s.Recv(ctx)
				if err != nil {
					errs <- err
					return
				}
				var got point
				if err := m.Decode(&got); err != nil || got != want {
					errs <- fmt.Errorf("got %v, %v; want %v", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestServerStream(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	const n = 1000
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		_ = s.Started(ctx, "ready")
		for i := range n {
			if err := s.Yield(ctx, i); err != nil {
				return
			}
		}
		_ = s.Stop(ctx)
		_ = s.Return(ctx, n)
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "count", nil)
	require.NoError(t, err)
	var kinds []transport.Kind
	next := 0
	for {
		m, err := s.Recv(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if m.Kind == transport.KindYield {
			var v int
			require.NoError(t, m.Decode(&v))
			require.Equal(t, next, v, "items arrive in order")
			next++
			continue
		}
		kinds = append(kinds, m.Kind)
	}
	require.Equal(t, n, next)
	require.Equal(t, []transport.Kind{transport.KindStarted, transport.KindStop, transport.KindReturn}, kinds)
}

func TestDuplexStream(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		sum := 0
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				break // io.EOF after the caller's Stop
			}
			if m.Kind == transport.KindYield {
				var v int
				_ = m.Decode(&v)
				sum += v
				_ = s.Yield(ctx, sum) // running total back
			}
		}
		_ = s.Stop(ctx)
		_ = s.Return(ctx, sum)
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "sum", nil)
	require.NoError(t, err)
	for i := 1; i <= 10; i++ {
		require.NoError(t, s.Yield(ctx, i))
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		var total int
		require.NoError(t, m.Decode(&total))
		require.Equal(t, i*(i+1)/2, total)
	}
	require.NoError(t, s.Stop(ctx))
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindStop, m.Kind)
	m, err = s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	require.ErrorIs(t, s.Yield(ctx, 1), transport.ErrStreamClosed)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, func(s *transport.Stream) {
		<-s.Canceled()
		_ = s.Fail(context.Background(), &transport.ErrorInfo{Type: "context.canceledError", Message: "context canceled"})
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "forever", nil)
	require.NoError(t, err)
	require.NoError(t, s.Cancel(ctx))
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindError, m.Kind)
	require.Equal(t, "context canceled", m.Err.Message)
}

func TestFlowControlSlowConsumer(t *testing.T) {
	t.Parallel()
	const window = 8
	a, b := connPair(t, []transport.Option{transport.WithWindow(window)}, nil)
	var consumed atomic.Int64
	overrun := make(chan int64, 1)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		for i := range 20 * window {
			if err := s.Yield(ctx, i); err != nil {
				return
			}
			// After Yield i returned, i+1 items are out; no more than a
			// window of them may be untaken. The consumer counts an item
			// once Recv has returned it, and Recv grants the credit it
			// frees before it returns: one taken item may be uncounted.
			if ahead := int64(i+1) - consumed.Load(); ahead > window+1 {
				select {
				case overrun <- ahead:
				default:
				}
			}
		}
		_ = s.Return(ctx, nil)
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "produce", nil)
	require.NoError(t, err)
	for {
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		if m.Kind != transport.KindYield {
			break
		}
		consumed.Add(1)
	}
	require.EqualValues(t, 20*window, consumed.Load())
	select {
	case ahead := <-overrun:
		t.Fatalf("the producer got %d items ahead of the consumer, window %d", ahead, window)
	default:
	}
}

func TestSlowStreamDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	const window = 4
	a, b := connPair(t, []transport.Option{transport.WithWindow(window)}, nil)
	stalled := make(chan error, 1)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		switch s.Func() {
		case "stalled":
			for i := 0; ; i++ {
				yctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				err := s.Yield(yctx, i)
				cancel()
				if err != nil {
					stalled <- fmt.Errorf("blocked after %d items: %w", i, err)
					_ = s.Return(ctx, nil)
					return
				}
			}
		case "fast":
			for i := range 10_000 {
				if err := s.Yield(ctx, i); err != nil {
					return
				}
			}
			_ = s.Return(ctx, nil)
		}
	})()
	ctx := context.Background()
	slow, err := a.Call(ctx, "stalled", nil) // never read until the end
	require.NoError(t, err)
	fast, err := a.Call(ctx, "fast", nil)
	require.NoError(t, err)
	items := 0
	for {
		m, err := fast.Recv(ctx)
		require.NoError(t, err)
		if m.Kind != transport.KindYield {
			break
		}
		items++
	}
	require.Equal(t, 10_000, items, "the fast stream flowed while the other was stalled")
	err = <-stalled
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, fmt.Sprintf("blocked after %d items", window))
	slow.Close()
}

func TestRecvHonoursContext(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, func(s *transport.Stream) { <-s.Canceled() })()
	s, err := a.Call(context.Background(), "silent", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = s.Recv(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = a.Accept(ctx2)
	require.ErrorIs(t, err, context.Canceled)
	s.Close()
}

func TestCloseUnblocksEverything(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, func(s *transport.Stream) { <-s.Canceled() })()
	ctx := context.Background()
	s, err := a.Call(ctx, "silent", nil)
	require.NoError(t, err)
	errs := make(chan error, 2)
	go func() {
		_, err := s.Recv(ctx)
		errs <- err
	}()
	go func() {
		_, err := a.Accept(ctx)
		errs <- err
	}()
	require.NoError(t, a.Close())
	for range 2 {
		require.ErrorIs(t, <-errs, transport.ErrClosed)
	}
	_, err = a.Call(ctx, "x", nil)
	require.ErrorIs(t, err, transport.ErrClosed)
	<-b.Done()
	require.ErrorIs(t, b.Err(), transport.ErrClosed)
	require.ErrorIs(t, b.Err(), io.EOF, "the peer sees the connection end")
}

// gatedConn counts writes once armed and holds the first armed write until
// the gate is closed; entered, if not nil, is closed when it starts to hold.
type gatedConn struct {
	net.Conn
	armed    atomic.Bool
	writes   atomic.Int64
	gate     chan struct{}
	entered  chan struct{}
	once     sync.Once
	released sync.Once
}

func (g *gatedConn) Write(p []byte) (int, error) {
	if g.armed.Load() {
		g.writes.Add(1)
		g.once.Do(func() {
			if g.entered != nil {
				close(g.entered)
			}
			<-g.gate
		})
	}
	return g.Conn.Write(p)
}

// release closes the gate; calling it again is harmless.
func (g *gatedConn) release() { g.released.Do(func() { close(g.gate) }) }

func TestConcurrentSendsCoalesce(t *testing.T) {
	t.Parallel()
	fa, fb, err := transport.Pair()
	require.NoError(t, err)
	nca, err := net.FileConn(fa)
	require.NoError(t, err)
	fa.Close()
	gated := &gatedConn{Conn: nca, gate: make(chan struct{})}
	ctx := context.Background()
	var b *transport.Conn
	var errB error
	ready := make(chan struct{})
	go func() {
		defer close(ready)
		b, errB = transport.FileConn(ctx, fb, transport.Responder,
			transport.WithHandler(func(s *transport.Stream) { _ = s.Return(ctx, s.Args()) }))
	}()
	a, err := transport.NewConn(ctx, gated, transport.Initiator)
	require.NoError(t, err)
	<-ready
	require.NoError(t, errB)
	defer b.Close()
	defer a.Close()

	const senders = 100
	gated.armed.Store(true)
	returned := make(chan *transport.Stream, senders)
	for i := range senders {
		go func() {
			s, err := a.Call(ctx, "echo", i)
			if err != nil {
				t.Error(err)
			}
			returned <- s
		}()
	}
	// All but the one that is writing (held at the gate) return as soon as
	// their frame is queued.
	streams := make([]*transport.Stream, 0, senders)
	for range senders - 1 {
		streams = append(streams, <-returned)
	}
	gated.release()
	streams = append(streams, <-returned)
	for _, s := range streams {
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, transport.KindReturn, m.Kind)
	}
	require.LessOrEqual(t, gated.writes.Load(), int64(3),
		"%d frames sent at once left in %d writes", senders, gated.writes.Load())
}

func TestCloseWaitsForHandlers(t *testing.T) {
	t.Parallel()
	var finished atomic.Bool
	started := make(chan struct{})
	a, b := connPair(t, nil, []transport.Option{transport.WithHandler(func(s *transport.Stream) {
		close(started)
		<-s.Canceled() // closed when the connection ends
		finished.Store(true)
	})})
	_, err := a.Call(context.Background(), "wait", nil)
	require.NoError(t, err)
	<-started
	require.NoError(t, b.Close())
	require.True(t, finished.Load(), "Close returned only after the handler did")
	_, err = b.Accept(context.Background())
	require.ErrorIs(t, err, transport.ErrClosed)
}

func TestYieldFailsOnceTheCallerCancels(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, []transport.Option{transport.WithWindow(4)})
	yieldErr := make(chan error, 1)
	defer serve(b, func(s *transport.Stream) {
		ctx := context.Background()
		for i := 0; ; i++ {
			if err := s.Yield(ctx, i); err != nil { // blocks on credit, then fails
				yieldErr <- err
				_ = s.Fail(ctx, &transport.ErrorInfo{Type: "context.Canceled", Message: err.Error()})
				return
			}
		}
	})()
	ctx := context.Background()
	s, err := a.Call(ctx, "endless", nil)
	require.NoError(t, err)
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindYield, m.Kind)
	require.NoError(t, s.Cancel(ctx))
	require.ErrorIs(t, <-yieldErr, transport.ErrCanceled)
	for {
		m, err = s.Recv(ctx)
		require.NoError(t, err)
		if m.Kind == transport.KindError {
			break
		}
	}
	require.Equal(t, transport.ErrCanceled.Error(), m.Err.Message)
}

// panicky panics in its encoder, as a caller's own EncodeMsgpack might.
type panicky struct{}

func (panicky) EncodeMsgpack(*msgpack.Encoder) error { panic("encoder panicked") }

func TestCallSurvivesAPanickingEncoder(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, echo)()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.PanicsWithValue(t, "encoder panicked", func() { _, _ = a.Call(ctx, "echo", panicky{}) },
		"the panic goes on to the caller")
	s, err := a.Call(ctx, "echo", point{1, 2, "after"})
	require.NoError(t, err, "the connection serves on")
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	var got point
	require.NoError(t, m.Decode(&got))
	require.Equal(t, "after", got.Tag)
}
