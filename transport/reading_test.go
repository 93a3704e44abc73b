//go:build unix

package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// The tests of leader/follower reading: a goroutine waiting in Recv reads
// the socket itself while no one else does (see reading.go).

// tokenConn returns a Conn whose peer is a raw socket answered by hand,
// whose read events arrive on the channel returned, and whose watchdog
// waits an hour: once free, the read token is taken only by a waiting
// goroutine, so that what holds it is known.
func tokenConn(t *testing.T) (*transport.Conn, net.Conn, <-chan transport.ReadEvent) {
	t.Helper()
	c, raw := established(t)
	events := make(chan transport.ReadEvent, 1024)
	transport.SetReadHook(c, func(e transport.ReadEvent) {
		select {
		case events <- e:
		default:
		}
	})
	transport.SetReadHandoff(c, time.Hour)
	return c, raw, events
}

// waitEvent waits for the next event e, skipping others.
func waitEvent(t *testing.T, events <-chan transport.ReadEvent, e transport.ReadEvent) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-events:
			if got == e {
				return
			}
		case <-deadline:
			t.Fatalf("no read event %d", e)
		}
	}
}

// readCall reads the next Call the Conn sent, on the raw side.
func readCall(t *testing.T, raw net.Conn) *transport.Message {
	t.Helper()
	body, err := transport.ReadFrame(raw, 1<<20)
	require.NoError(t, err)
	m, err := transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Equal(t, transport.KindCall, m.Kind)
	return m
}

// returnFrame is the frame of a Return of v on stream id.
func returnFrame(t *testing.T, id uint64, v any) []byte {
	t.Helper()
	out, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindReturn, ID: id, Payload: raw(t, v)})
	require.NoError(t, err)
	return out
}

// recvAsync runs s.Recv(ctx) on a goroutine and returns its outcome.
func recvAsync(ctx context.Context, s *transport.Stream) <-chan recvResult {
	out := make(chan recvResult, 1)
	go func() {
		m, err := s.Recv(ctx)
		out <- recvResult{m, err}
	}()
	return out
}

type recvResult struct {
	m   *transport.Message
	err error
}

func within(t *testing.T, ch <-chan recvResult) recvResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Recv did not return")
		return recvResult{}
	}
}

// freeToken makes two round trips by hand, the first of the connection,
// and leaves the read token free for the goroutines that wait. Two
// callers wait for their answers while the reader of last resort holds
// the token; it reads the first answer and passes the token to the second
// caller, whose queue is still empty (had only one waited, it might have
// taken its answer and left before the reader looked for a wanter, and
// the reader would have kept the token); the second reads its own answer
// and frees the token.
func freeToken(t *testing.T, c *transport.Conn, raw net.Conn, events <-chan transport.ReadEvent) {
	t.Helper()
	ctx := context.Background()
	var ids [2]uint64
	var got [2]<-chan recvResult
	for i := range got {
		s, err := c.Call(ctx, "warm", nil)
		require.NoError(t, err)
		ids[i] = readCall(t, raw).ID
		got[i] = recvAsync(ctx, s)
		waitEvent(t, events, transport.ReadWanter)
	}
	for i := range got {
		_, err := raw.Write(returnFrame(t, ids[i], "warm"))
		require.NoError(t, err)
		if i == 0 {
			waitEvent(t, events, transport.ReadBlocked) // the second reads
		}
		r := within(t, got[i])
		require.NoError(t, r.err)
		require.Equal(t, transport.KindReturn, r.m.Kind)
	}
}

// readingCaller returns a tokenConn, its raw peer and its read events,
// and the outcome of a call whose Recv, on a goroutine, has taken the free
// token and blocks reading.
func readingCaller(t *testing.T) (*transport.Conn, net.Conn, <-chan transport.ReadEvent, <-chan recvResult) {
	t.Helper()
	c, raw, events := tokenConn(t)
	freeToken(t, c, raw, events)
	_, got := holdCall(t, c, raw, events)
	return c, raw, events, got
}

// holdCall makes a call on c, whose token is free, and returns its stream
// and the outcome of its Recv, on a goroutine, once that Recv has taken
// the token and blocks reading.
func holdCall(t *testing.T, c *transport.Conn, raw net.Conn, events <-chan transport.ReadEvent) (*transport.Stream, <-chan recvResult) {
	t.Helper()
	s, err := c.Call(context.Background(), "hold", nil)
	require.NoError(t, err)
	readCall(t, raw)
	got := recvAsync(context.Background(), s)
	waitEvent(t, events, transport.ReadBlocked)
	return s, got
}

// otherCall returns a tokenConn whose token is free, its raw peer and
// read events, and a call on it that no one waits for yet, with its id.
func otherCall(t *testing.T) (*transport.Conn, net.Conn, <-chan transport.ReadEvent, *transport.Stream, uint64) {
	t.Helper()
	c, raw, events := tokenConn(t)
	freeToken(t, c, raw, events)
	other, err := c.Call(context.Background(), "other", nil)
	require.NoError(t, err)
	return c, raw, events, other, readCall(t, raw).ID
}

// recvCall makes a call on c and returns the outcome of its Recv(ctx), on
// a goroutine.
func recvCall(ctx context.Context, t *testing.T, c *transport.Conn, raw net.Conn) <-chan recvResult {
	t.Helper()
	s, err := c.Call(context.Background(), "canceled", nil)
	require.NoError(t, err)
	readCall(t, raw)
	return recvAsync(ctx, s)
}

func TestReaderCanceledMidFrameLosesNoByte(t *testing.T) {
	t.Parallel()
	c, raw, events, other, otherID := otherCall(t)
	ctx := context.Background()
	frame := returnFrame(t, otherID, "the other's answer, whole")
	half := len(frame) / 2
	_, err := raw.Write(frame[:half]) // before the reader starts: its first read takes it all
	require.NoError(t, err)

	// A caller takes the token, reads half of the other's answer and
	// blocks for the rest; its ctx ends meanwhile.
	cctx, cancel := context.WithCancel(ctx)
	got := recvCall(cctx, t, c, raw)
	waitEvent(t, events, transport.ReadBlocked) // the header
	waitEvent(t, events, transport.ReadBlocked) // the rest of the frame, after the half
	cancel()
	r := within(t, got)
	require.ErrorIs(t, r.err, context.Canceled)

	// The half it read is kept for the next reader.
	_, err = raw.Write(frame[half:])
	require.NoError(t, err)
	r = within(t, recvAsync(ctx, other))
	require.NoError(t, r.err)
	var answer string
	require.NoError(t, r.m.Decode(&answer))
	require.Equal(t, "the other's answer, whole", answer)
	require.NoError(t, c.Err())
}

// TestReaderMeetsTheEnd: a caller holding the read token, blocked in its
// read, meets the peer's death or a hostile frame: its Recv and the
// connection fail with the reason, and nothing hangs.
func TestReaderMeetsTheEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		frame []byte // what the peer sends
		hangs bool   // then it closes its end
		want  error
	}{
		{"the peer dies", nil, true, io.EOF},
		{"unknown kind", frameOf(t, []int{42, 1}), false, transport.ErrProtocol},
		{"invalid msgpack", []byte{0, 0, 0, 3, 0x92, 0xc1, 0xc1}, false, transport.ErrProtocol},
		{"over the limit", []byte{0xff, 0xff, 0xff, 0xf0}, false, transport.ErrFrameTooLarge},
		{"larger than the read buffer, cut short", []byte{0, 1, 0, 0}, true, io.ErrUnexpectedEOF},
		{"truncated", []byte{0, 0, 0, 100, 1, 2}, true, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, raw, _, got := readingCaller(t)
			_, err := raw.Write(tc.frame)
			require.NoError(t, err)
			if tc.hangs {
				raw.Close()
			}
			r := within(t, got)
			require.ErrorIs(t, r.err, transport.ErrClosed)
			require.ErrorIs(t, r.err, tc.want)
			require.ErrorIs(t, waitErr(t, c), tc.want)
		})
	}
}

// TestReaderReadsALargeFrameItself: a frame larger than the read buffer
// is read by the waiting caller that holds the token, with no reader of
// last resort.
func TestReaderReadsALargeFrameItself(t *testing.T) {
	t.Parallel()
	_, raw, events, got := readingCaller(t)
	big := make([]byte, 100<<10)
	big[len(big)-1] = 7
	_, err := raw.Write(returnFrame(t, 6, big)) // the held call is the third: id 6
	require.NoError(t, err)
	r := within(t, got)
	require.NoError(t, r.err)
	var back []byte
	require.NoError(t, r.m.Decode(&back))
	require.Equal(t, big, back)
	for {
		select {
		case e := <-events:
			require.NotEqual(t, transport.ReadLoop, e)
			continue
		default:
		}
		break
	}
}

// TestReaderCanceledMidLargeFrameLosesNoByte: a caller reading a frame
// larger than the read buffer into the frame's own buffer is interrupted
// by its ctx mid-frame; whoever reads next (another caller, or the reader
// of last resort) finishes the frame, whether what is left is large or
// fits the buffer.
func TestReaderCanceledMidLargeFrameLosesNoByte(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		loop bool // the reader of last resort reads next, else a caller
		rest int  // bytes of the frame sent after the cancel
	}{
		{"caller, large rest", false, 150 << 10},
		{"caller, small rest", false, 100},
		{"loop, large rest", true, 150 << 10},
		{"loop, small rest", true, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, raw, events, other, otherID := otherCall(t)
			ctx := context.Background()
			big := make([]byte, 300<<10)
			for i := range big {
				big[i] = byte(i % 251)
			}
			frame := returnFrame(t, otherID, big)
			cut := len(frame) - tc.rest
			sent := make(chan error, 1)
			go func() { // the socket may hold less than the first part
				_, err := raw.Write(frame[:cut])
				sent <- err
			}()

			// A caller takes the token, starts the large frame (its
			// header consumed) and blocks for the rest; its ctx ends.
			cctx, cancel := context.WithCancel(ctx)
			got := recvCall(cctx, t, c, raw)
			waitEvent(t, events, transport.ReadBlocked) // the header
			waitEvent(t, events, transport.ReadBlocked) // the large frame
			if tc.loop {
				transport.SetReadHandoff(c, time.Millisecond) // from the cancel's release
			}
			cancel()
			r := within(t, got)
			require.ErrorIs(t, r.err, context.Canceled)
			if tc.loop {
				waitEvent(t, events, transport.ReadLoop)
			}

			go func() {
				if err := <-sent; err != nil {
					sent <- err
					return
				}
				_, err := raw.Write(frame[cut:])
				sent <- err
			}()
			r = within(t, recvAsync(ctx, other))
			require.NoError(t, <-sent)
			require.NoError(t, r.err)
			var back []byte
			require.NoError(t, r.m.Decode(&back))
			require.Equal(t, big, back)
			require.NoError(t, c.Err())
		})
	}
}

// TestUnreadFramesAreReadWithinTheHandoff checks the watchdog: with the
// token free and no one waiting, what the peer sends is still read.
func TestUnreadFramesAreReadWithinTheHandoff(t *testing.T) {
	t.Parallel()
	c, raw := established(t)
	ctx := context.Background()
	s, err := c.Call(ctx, "warm", nil)
	require.NoError(t, err)
	call := readCall(t, raw)
	_, err = raw.Write(returnFrame(t, call.ID, 1))
	require.NoError(t, err)
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	// Whoever read that answer has given the token up; nothing waits now.
	raw.Close()
	start := time.Now()
	require.ErrorIs(t, waitErr(t, c), io.EOF)
	require.Less(t, time.Since(start), time.Second) // 2 × readHandoff, and a busy machine's slack
}

func TestManyConcurrentCallers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler bool // the callee serves with WithHandler, else with Accept
	}{{"handler", true}, {"accept", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var bOpts []transport.Option
			if tc.handler {
				bOpts = append(bOpts, transport.WithHandler(echo))
			}
			a, b := connPair(t, nil, bOpts)
			if !tc.handler {
				defer serve(b, echo)()
			}
			const callers, calls = 32, 100
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for g := range errs {
				wg.Go(func() { errs[g] = callMany(a, g, calls) })
			}
			wg.Wait()
			require.NoError(t, errors.Join(errs...))
			require.Zero(t, a.Streams())
		})
	}
}

// callMany makes n echo calls from caller g, every seventh cancelled
// while it waits (holding the read token or not).
func callMany(c *transport.Conn, g, n int) error {
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if i%7 == 3 {
			var cctx context.Context
			cctx, cancel = context.WithCancel(ctx)
			cancel() // before or while it waits: Recv fails or answers, never hangs
			ctx = cctx
		}
		want := point{g, i, "p"}
		s, err := c.Call(context.Background(), "echo", want)
		if err != nil {
			cancel()
			return err
		}
		m, err := s.Recv(ctx)
		if ctx.Err() != nil {
			s.Close()
			cancel()
			continue
		}
		cancel()
		if err != nil {
			return fmt.Errorf("call %d of %d: %w", i, g, err)
		}
		var got point
		if err := m.Decode(&got); err != nil || got != want {
			return fmt.Errorf("call %d of %d: %v, %v", i, g, got, err)
		}
		s.Close()
	}
	return nil
}

// counter is a handler that echoes "echo" calls and answers any other by
// yielding 0 to n-1, then returning.
func counter(n int) func(*transport.Stream) {
	return func(s *transport.Stream) {
		ctx := context.Background()
		if s.Func() == "echo" {
			echo(s)
			return
		}
		for i := range n {
			if err := s.Yield(ctx, i); err != nil {
				return
			}
		}
		_ = s.Return(ctx, "done")
	}
}

func TestStreamItemsArriveWhileOnlyACallWaits(t *testing.T) {
	t.Parallel()
	const items = 600 // beyond one window: credit flows while only the Call waits
	a, _ := connPair(t, nil, []transport.Option{transport.WithHandler(counter(items))})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := a.Call(ctx, "count", nil)
	require.NoError(t, err)
	// Only calls wait; the stream's items are routed by their readers.
	for i := range 20 {
		s, err := a.Call(ctx, "echo", point{i, i, "c"})
		require.NoError(t, err)
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, transport.KindReturn, m.Kind)
	}
	for i := range items {
		m, err := stream.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, transport.KindYield, m.Kind)
		var n int
		require.NoError(t, m.Decode(&n))
		require.Equal(t, i, n)
	}
	m, err := stream.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
}

// TestAHandlerThatBlocksDoesNotStallTheConnection: a handler runs on the
// goroutine that read its Call; while it blocks, the watchdog starts
// another reader, which serves the next call and delivers the Cancel.
func TestAHandlerThatBlocksDoesNotStallTheConnection(t *testing.T) {
	t.Parallel()
	a, _ := connPair(t, nil, []transport.Option{transport.WithHandler(func(s *transport.Stream) {
		if s.Func() == "echo" {
			echo(s)
			return
		}
		<-s.Context().Done()
		_ = s.Return(context.Background(), context.Cause(s.Context()).Error())
	})})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	blocked, err := a.Call(ctx, "block", nil)
	require.NoError(t, err)
	s, err := a.Call(ctx, "echo", point{1, 2, "next"})
	require.NoError(t, err)
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	require.NoError(t, blocked.Cancel(ctx))
	m, err = blocked.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	var why string
	require.NoError(t, m.Decode(&why))
	require.Contains(t, why, transport.ErrCanceled.Error())
}

// TestHandlersCallBack: each side's handler calls the other side while it
// runs on the goroutine that read its Call, so its own Recv reads.
func TestHandlersCallBack(t *testing.T) {
	t.Parallel()
	var conns [2]*transport.Conn
	ready := make(chan struct{})
	handler := func(side int) func(*transport.Stream) {
		return func(s *transport.Stream) {
			<-ready
			ctx := context.Background()
			var depth int
			_ = s.DecodeArgs(&depth)
			if depth == 0 {
				_ = s.Return(ctx, 0)
				return
			}
			back, err := conns[side].Call(ctx, "down", depth-1)
			if err != nil {
				_ = s.Fail(ctx, &transport.ErrorInfo{Message: err.Error()})
				return
			}
			m, err := back.Recv(ctx)
			if err != nil || m.Kind != transport.KindReturn {
				_ = s.Fail(ctx, &transport.ErrorInfo{Message: fmt.Sprint(m, err)})
				return
			}
			var n int
			_ = m.Decode(&n)
			_ = s.Return(ctx, n+1)
		}
	}
	conns[0], conns[1] = connPair(t, []transport.Option{transport.WithHandler(handler(0))},
		[]transport.Option{transport.WithHandler(handler(1))})
	close(ready)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 50 {
		s, err := conns[0].Call(ctx, "down", 6)
		require.NoError(t, err)
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, transport.KindReturn, m.Kind, m.Err)
		var n int
		require.NoError(t, m.Decode(&n))
		require.Equal(t, 6, n)
	}
}

// TestConcurrentRecvOnOneStream: goroutines share a stream's queue, and
// its place among the read token's wanters; some give up mid-wait. Every
// item is received once and nothing hangs.
func TestConcurrentRecvOnOneStream(t *testing.T) {
	t.Parallel()
	const items, poppers = 2000, 6
	a, _ := connPair(t, nil, []transport.Option{transport.WithHandler(counter(items))})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := a.Call(ctx, "count", nil)
	require.NoError(t, err)
	var mu sync.Mutex
	seen := make(map[int]bool)
	var wg sync.WaitGroup
	for p := range poppers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				rctx, rcancel := context.WithCancel(ctx)
				if (p+j)%5 == 0 {
					rcancel() // gives up at once, holding the token or not
				}
				m, err := s.Recv(rctx)
				rcancel()
				switch {
				case errors.Is(err, context.Canceled):
					continue
				case err != nil:
					return // io.EOF once the Return was taken, or the test's deadline
				case m.Kind == transport.KindYield:
					var n int
					_ = m.Decode(&n)
					mu.Lock()
					seen[n] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, ctx.Err(), "the poppers hung")
	require.Len(t, seen, items)
}

// TestCloseEndsARecvThatReads: a Recv holding the read token, blocked in
// its read, returns ErrStreamClosed as soon as another goroutine closes
// its stream, though the peer sends nothing more.
func TestCloseEndsARecvThatReads(t *testing.T) {
	t.Parallel()
	c, raw, events := tokenConn(t)
	freeToken(t, c, raw, events)
	s, got := holdCall(t, c, raw, events)
	require.NoError(t, s.Close())
	r := within(t, got)
	require.ErrorIs(t, r.err, transport.ErrStreamClosed)
	body, err := transport.ReadFrame(raw, 1<<20) // the closed call's Cancel
	require.NoError(t, err)
	m, err := transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Equal(t, transport.KindCancel, m.Kind)

	// The interruption is over: the next caller reads its answer.
	next, got := holdCall(t, c, raw, events)
	_, err = raw.Write(returnFrame(t, next.ID(), "next"))
	require.NoError(t, err)
	r = within(t, got)
	require.NoError(t, r.err)
	require.Equal(t, transport.KindReturn, r.m.Kind)
	require.NoError(t, c.Err())
}

// noReadDeadlines is a net.Conn whose read deadlines do not work, as a
// link that cannot interrupt a read: a Conn over it reads with its own
// goroutines only.
type noReadDeadlines struct{ net.Conn }

func (noReadDeadlines) SetReadDeadline(time.Time) error {
	return errors.New("no read deadlines")
}

// TestWithoutReadDeadlines: over a link without read deadlines, calls,
// cancelled waits, handlers that call back and the peer's end all work.
func TestWithoutReadDeadlines(t *testing.T) {
	t.Parallel()
	fa, fb, err := transport.Pair()
	require.NoError(t, err)
	na, err := net.FileConn(fa)
	require.NoError(t, err)
	fa.Close()
	var conns [2]*transport.Conn
	ready := make(chan struct{})
	// A handler calls the peer back over its own connection before it
	// answers.
	handler := func(side int) func(*transport.Stream) {
		return func(s *transport.Stream) { callBack(s, conns[side], ready) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errB error
	var wg sync.WaitGroup
	wg.Go(func() {
		conns[1], errB = transport.FileConn(ctx, fb, transport.Responder, transport.WithHandler(handler(1)))
	})
	conns[0], err = transport.NewConn(ctx, noReadDeadlines{na}, transport.Initiator, transport.WithHandler(handler(0)))
	wg.Wait()
	require.NoError(t, err)
	require.NoError(t, errB)
	close(ready)
	a, b := conns[0], conns[1]
	defer b.Close()

	errs := make([]error, 8)
	for g := range errs {
		wg.Go(func() { errs[g] = callMany(a, g, 50) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for range 20 {
		s, err := b.Call(ctx, "back", nil) // a's handler calls b back
		require.NoError(t, err)
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, transport.KindReturn, m.Kind, m.Err)
	}
	require.NoError(t, b.Close())
	require.ErrorIs(t, waitErr(t, a), transport.ErrClosed)
	require.NoError(t, a.Close())
}

// callBack serves echo calls, and answers any other once an echo call it
// makes over c (its own connection) has returned.
func callBack(s *transport.Stream, c *transport.Conn, ready <-chan struct{}) {
	<-ready
	if s.Func() == "echo" {
		echo(s)
		return
	}
	ctx := context.Background()
	back, err := c.Call(ctx, "echo", point{1, 2, "back"})
	if err == nil {
		_, err = back.Recv(ctx)
	}
	if err != nil {
		_ = s.Fail(ctx, &transport.ErrorInfo{Message: err.Error()})
		return
	}
	_ = s.Return(ctx, "called back")
}

// TestCloseRacesRecv: goroutines close their streams while their Recvs
// wait, holding the read token or not, among callers that do not: each
// Recv returns its answer or ErrStreamClosed, well before its deadline.
func TestCloseRacesRecv(t *testing.T) {
	t.Parallel()
	a, _ := connPair(t, nil, []transport.Option{transport.WithHandler(func(s *transport.Stream) {
		if s.Func() == "echo" {
			echo(s)
			return
		}
		<-s.Context().Done() // "hang": answers nothing until cancelled
	})})
	const callers, calls = 16, 60
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for g := range errs {
		wg.Go(func() {
			for i := range calls {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				fn := "echo"
				if i%2 == g%2 {
					fn = "hang"
				}
				s, err := a.Call(ctx, fn, point{g, i, "c"})
				if err != nil {
					cancel()
					errs[g] = err
					return
				}
				closed := make(chan struct{})
				if fn == "hang" {
					go func() {
						defer close(closed)
						_ = s.Close()
					}()
				} else {
					close(closed)
				}
				_, err = s.Recv(ctx)
				<-closed
				s.Close()
				cancel()
				if err != nil && !errors.Is(err, transport.ErrStreamClosed) {
					errs[g] = fmt.Errorf("call %d of %d (%s): %w", i, g, fn, err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.NoError(t, a.Err())
}

// TestManyCallersOfLargeFrames: callers of large echoes take turns with
// the read token, reading each other's answers, some cancelled while
// they wait: every answer that arrives is whole and right, and the
// connection lives on. (A cancel mid-frame is
// TestReaderCanceledMidLargeFrameLosesNoByte's: here the bytes arrive
// too fast for one to land there reliably.)
func TestManyCallersOfLargeFrames(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, echoBytes)()
	const callers, calls = 6, 12
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for g := range errs {
		wg.Go(func() {
			for i := range calls {
				want := make([]byte, 20<<10+(g*calls+i)*7<<10) // 20–520 KiB
				for k := range want {
					want[k] = byte(g + i + k)
				}
				wait := 10 * time.Second
				if i%2 == 1 { // ends while it waits
					wait = time.Duration(50<<(g%6)) * time.Microsecond // 50 µs to 1.6 ms
				}
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				s, err := a.Call(context.Background(), "echo", want)
				if err != nil {
					errs[g] = err
					cancel()
					return
				}
				m, err := s.Recv(ctx)
				canceled := ctx.Err() != nil
				cancel()
				s.Close()
				if canceled {
					continue
				}
				var got []byte
				if err == nil {
					err = m.Decode(&got)
				}
				if err != nil || !bytes.Equal(got, want) {
					errs[g] = fmt.Errorf("call %d of %d: %d bytes of %d: %v", i, g, len(got), len(want), err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.NoError(t, a.Err())
	require.Zero(t, a.Streams())
}
