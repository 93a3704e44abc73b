//go:build unix

package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// program reads a stream-frame fuzz case from bytes: 0 once they run out.
type program struct{ data []byte }

func (p *program) next() byte {
	if len(p.data) == 0 {
		return 0
	}
	b := p.data[0]
	p.data = p.data[1:]
	return b
}

// frame returns the next frame the hostile peer sends: any kind the
// stream state machine reacts to, on a stream the peer opened (odd ids),
// one this side opened (even), or one never opened.
func (p *program) frame(t testing.TB) []byte {
	// Mostly the streams both sides opened (the peer's Calls 1 and 3 go
	// first), rarely one never opened: that ends the connection at once.
	ids := []uint64{1, 3, 2, 4, 1, 3, 2, 4, 1, 3, 2, 4, 1, 2, 5, 6, 0}
	m := &transport.Message{ID: ids[int(p.next())%len(ids)]}
	kinds := []transport.Kind{
		transport.KindYield, transport.KindYield, transport.KindCredit, transport.KindStop,
		transport.KindStarted, transport.KindReturn, transport.KindError, transport.KindCancel,
		transport.KindBatch, transport.KindYield, transport.KindCredit, transport.KindStop,
		transport.KindStarted, transport.KindCall,
	}
	m.Kind = kinds[int(p.next())%len(kinds)]
	switch m.Kind {
	case transport.KindCall:
		m.Func = "f"
		m.Payload = msgpack.RawMessage{0xc0}
	case transport.KindCredit:
		m.Credit = uint32(p.next()) % 8
		if m.Credit == 7 {
			m.Credit = 1 << 31
		}
	case transport.KindError:
		m.Err = &transport.ErrorInfo{Type: "T", Message: "hostile"}
	case transport.KindBatch:
		n := 1 + int(p.next())%3 // AppendFrame refuses an empty Batch; FuzzDecodeMessage covers it
		m.Payload = msgpack.RawMessage{0x90 | byte(n)}
		for range n {
			m.Payload = append(m.Payload, 0x01)
		}
	default:
		m.Payload = msgpack.RawMessage{0xa1, 'x'}
	}
	out, err := transport.AppendFrame(nil, m)
	require.NoError(t, err)
	return out
}

// ops runs the next few of this side's operations on s, each bounded by
// a ctx of d, and returns the first that outlived its ctx by far: a call
// that does not end.
func (p *program) ops(s *transport.Stream, d time.Duration) error {
	n := 1 + int(p.next())%6
	for range n {
		op := p.next() % 10
		ctx, cancel := context.WithTimeout(context.Background(), d)
		start := time.Now()
		var err error
		switch op {
		case 0, 1:
			_, err = s.Recv(ctx)
		case 2:
			err = s.Yield(ctx, "y")
		case 3:
			_, err = s.YieldMany(ctx, []any{1, 2, 3})
		case 4:
			err = s.Stop(ctx)
		case 5:
			err = s.Started(ctx, "s")
		case 6:
			err = s.Return(ctx, "r")
		case 7:
			err = s.Fail(ctx, &transport.ErrorInfo{Type: "T", Message: "local"})
		case 8:
			err = s.Cancel(ctx)
		case 9:
			err = s.Close()
		}
		cancel()
		if took := time.Since(start); took > d+5*time.Second {
			return fmt.Errorf("op %d on stream %d took %v (%v)", op, s.ID(), took, err)
		}
		if errors.Is(err, context.DeadlineExceeded) && d > time.Second {
			// The connection ends long before d: the op missed it.
			return fmt.Errorf("op %d on stream %d waited past the connection's end: %w", op, s.ID(), err)
		}
	}
	return nil
}

// runStreamProgram drives a Conn from a raw peer that sends the frames
// data describes, while this side's application runs the operations it
// describes on its own calls and on the peer's (in the handler). A panic
// anywhere fails the test binary; the checks are that every operation
// ends, and that the connection ends and Close returns once the peer
// hangs up.
func runStreamProgram(t *testing.T, data []byte) {
	p := &program{data: data}
	// Either the connection ends while the operations run (they must all
	// see it), or it stays up while they run with short ctxs.
	hangUp := p.next()%2 == 0
	d := 20 * time.Millisecond
	if hangUp {
		d = 30 * time.Second
	}
	var mu sync.Mutex
	var failures []error
	fail := func(err error) {
		if err != nil {
			mu.Lock()
			failures = append(failures, err)
			mu.Unlock()
		}
	}
	// The handler's operations come from their own copy of the program:
	// the handler runs concurrently with the rest.
	hp := &program{data: append([]byte(nil), data...)}
	var hmu sync.Mutex
	handler := func(s *transport.Stream) {
		hmu.Lock()
		sub := &program{data: hp.data}
		hp.next()
		hmu.Unlock()
		fail(sub.ops(s, d))
		s.Close()
	}
	// The peer grants one Yield at first: this side's Yields wait for its
	// Credits.
	hello := rawHello(transport.Version)
	hello.Hello.Window = 1
	c, raw, err := rawPair(t, func(raw net.Conn) { handshakeRawHello(t, raw, hello) },
		transport.WithHandler(handler), transport.WithWindow(4))
	require.NoError(t, err)
	var peerWG sync.WaitGroup
	peerWG.Add(1)
	go func() { // the raw peer reads all this side writes
		defer peerWG.Done()
		_, _ = io.Copy(io.Discard, raw)
	}()

	var calls sync.WaitGroup
	for range 1 + int(p.next())%3 {
		s, err := c.Call(context.Background(), "f", nil)
		require.NoError(t, err)
		sub := &program{data: append([]byte(nil), p.data...)}
		p.next()
		calls.Add(1)
		go func() {
			defer calls.Done()
			defer s.Close()
			fail(sub.ops(s, d))
		}()
	}
	out := append(frameOf(t, []any{2, 1, "f", nil}), frameOf(t, []any{2, 3, "f", nil})...)
	for range int(p.next()) % 48 {
		out = append(out, p.frame(t)...)
	}
	_, _ = raw.Write(out) // fails once the Conn has found a violation and gone
	if hangUp {
		_ = raw.(*net.UnixConn).CloseWrite()
	}
	// 10 seconds more than any operation's own bound.
	endsWithin(t, d+10*time.Second, "this side's calls", calls.Wait)
	_ = raw.(*net.UnixConn).CloseWrite()
	endsWithin(t, 10*time.Second, "the connection, once the peer hung up,", func() { <-c.Done() })
	endsWithin(t, 10*time.Second, "Close (a handler's operation?)", func() { c.Close() })
	raw.Close()
	peerWG.Wait()
	require.Empty(t, failures)
}

// endsWithin runs f, and fails t if it has not returned after d.
func endsWithin(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not end", what)
	}
}

// TestHostileStreamFrameSequences drives connections with random frame
// sequences from a raw peer while this side's application runs random
// operations on the streams: no sequence may panic the reader (the
// stream state machine's impossible transition included), and every
// operation, the connection and its Close must end.
func TestHostileStreamFrameSequences(t *testing.T) {
	t.Parallel()
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	deadline := time.Now().Add(20 * time.Second)
	for i := range rounds {
		if time.Now().After(deadline) {
			t.Logf("stopped after %d rounds at the time bound", i)
			break
		}
		data := make([]byte, 64+rng.IntN(192))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			runStreamProgram(t, data)
		})
	}
}

// FuzzStreamFrames is TestHostileStreamFrameSequences under the fuzzer:
// the bytes are the program.
func FuzzStreamFrames(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{1, 2, 6, 6, 6, 20, 0, 1, 0, 2, 1, 3, 1, 5, 0, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		runStreamProgram(t, data)
	})
}
