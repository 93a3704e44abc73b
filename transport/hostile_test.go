//go:build unix

package transport_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// rawHello is the Hello a hand-driven peer sends.
func rawHello(version uint32) *transport.Message {
	return &transport.Message{Kind: transport.KindHello, Hello: &transport.Hello{
		Version: version, Actor: transport.ActorID{Name: "raw"}, Initiator: true,
		Window: 16, MaxFrame: 16 << 20,
	}}
}

// handshakeRaw drives the initiator's side of a handshake by hand on raw
// and returns the responder's Hello.
func handshakeRaw(t *testing.T, raw net.Conn, version uint32) {
	t.Helper()
	handshakeRawHello(t, raw, rawHello(version))
}

// handshakeRawHello is handshakeRaw sending hello.
func handshakeRawHello(t *testing.T, raw net.Conn, hello *transport.Message) {
	t.Helper()
	out, err := transport.AppendFrame([]byte(transport.Preface), hello)
	require.NoError(t, err)
	_, err = raw.Write(out)
	require.NoError(t, err)
	preface := make([]byte, len(transport.Preface))
	_, err = io.ReadFull(raw, preface)
	require.NoError(t, err)
	require.Equal(t, transport.Preface, string(preface))
	_, err = transport.ReadFrame(raw, 1<<20)
	require.NoError(t, err)
}

// rawPair returns a Conn (the responder) and the raw socket of its peer;
// drive, if not nil, runs on the raw side while the Conn handshakes.
func rawPair(t *testing.T, drive func(raw net.Conn), opts ...transport.Option) (*transport.Conn, net.Conn, error) {
	t.Helper()
	raw, fb := rawSocket(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if drive != nil {
			drive(raw)
		}
	}()
	c, err := transport.FileConn(context.Background(), fb, transport.Responder, opts...)
	if err != nil {
		raw.Close() // unblock a driver still reading
	}
	<-done
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, raw, err
}

// rawSocket returns the raw end of a socket pair, closed when t ends, and
// the other end for a Conn.
func rawSocket(t *testing.T) (raw net.Conn, f *os.File) {
	t.Helper()
	fa, fb, err := transport.Pair()
	require.NoError(t, err)
	raw, err = net.FileConn(fa)
	fa.Close()
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	return raw, fb
}

// established returns a Conn whose peer is a raw socket past the handshake.
func established(t *testing.T, opts ...transport.Option) (*transport.Conn, net.Conn) {
	t.Helper()
	c, raw, err := rawPair(t, func(raw net.Conn) { handshakeRaw(t, raw, transport.Version) }, opts...)
	require.NoError(t, err)
	return c, raw
}

func frameOf(t *testing.T, v any) []byte {
	t.Helper()
	body, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// waitErr waits for c to end and returns why.
func waitErr(t *testing.T, c *transport.Conn) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end")
		return nil
	}
}

// checkOthersCarryOn checks that other connections in the process still work.
func checkOthersCarryOn(t *testing.T) {
	t.Helper()
	a, b := connPair(t, nil, nil)
	defer serve(b, echo)()
	s, err := a.Call(context.Background(), "echo", point{1, 1, "alive"})
	require.NoError(t, err)
	m, err := s.Recv(context.Background())
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
}

func TestHostileTruncatedFrame(t *testing.T) {
	t.Parallel()
	c, raw := established(t)
	_, err := raw.Write([]byte{0, 0, 0, 100, 1, 2, 3})
	require.NoError(t, err)
	raw.Close()
	err = waitErr(t, c)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorIs(t, err, transport.ErrClosed)
	checkOthersCarryOn(t)
}

func TestHostileLengthOverLimit(t *testing.T) {
	t.Parallel()
	c, raw := established(t, transport.WithMaxFrame(64<<10))
	_, err := raw.Write([]byte{0xff, 0xff, 0xff, 0xf0})
	require.NoError(t, err)
	require.ErrorIs(t, waitErr(t, c), transport.ErrFrameTooLarge)
	_, err = raw.Read(make([]byte, 1))
	require.Error(t, err, "the connection was closed")
	checkOthersCarryOn(t)
}

func TestHostileInvalidMsgpack(t *testing.T) {
	t.Parallel()
	c, raw := established(t)
	_, err := raw.Write([]byte{0, 0, 0, 3, 0x92, 0xc1, 0xc1})
	require.NoError(t, err)
	err = waitErr(t, c)
	require.ErrorIs(t, err, transport.ErrProtocol)
	require.ErrorContains(t, err, "invalid msgpack code 0xc1")
	checkOthersCarryOn(t)
}

func TestHostileUnknownKind(t *testing.T) {
	t.Parallel()
	c, raw := established(t)
	_, err := raw.Write(frameOf(t, []int{42, 1}))
	require.NoError(t, err)
	err = waitErr(t, c)
	require.ErrorIs(t, err, transport.ErrProtocol)
	require.ErrorContains(t, err, "unknown kind 42")
	checkOthersCarryOn(t)
}

func TestHostileYieldBeyondCredit(t *testing.T) {
	t.Parallel()
	const window = 4
	c, raw := established(t, transport.WithWindow(window))
	out := frameOf(t, []any{2, 1, "sink", nil})
	for range window + 1 {
		out = append(out, frameOf(t, []any{4, 1, "x"})...)
	}
	_, err := raw.Write(out)
	require.NoError(t, err)
	err = waitErr(t, c)
	require.ErrorIs(t, err, transport.ErrProtocol)
	require.ErrorContains(t, err, "beyond the granted credit")
}

func TestHostileCallOutOfOrder(t *testing.T) {
	t.Parallel()
	c, raw := established(t)
	_, err := raw.Write(append(frameOf(t, []any{2, 5, "f", nil}), frameOf(t, []any{2, 3, "f", nil})...))
	require.NoError(t, err)
	require.ErrorIs(t, waitErr(t, c), transport.ErrProtocol)
}

func TestHostileMessageForUnopenedStream(t *testing.T) {
	t.Parallel()
	c, raw := established(t)
	_, err := raw.Write(frameOf(t, []any{6, 99, "result"}))
	require.NoError(t, err)
	err = waitErr(t, c)
	require.ErrorIs(t, err, transport.ErrProtocol)
	require.ErrorContains(t, err, "never opened")
}

func TestHostileWrongVersion(t *testing.T) {
	t.Parallel()
	_, _, err := rawPair(t, func(raw net.Conn) {
		out, _ := transport.AppendFrame([]byte(transport.Preface), rawHello(7))
		_, _ = raw.Write(out)
		_, _ = io.Copy(io.Discard, raw)
	})
	var ve *transport.VersionError
	require.ErrorAs(t, err, &ve)
	require.EqualValues(t, 7, ve.Remote)
	require.ErrorIs(t, err, transport.ErrHandshake)
	require.ErrorContains(t, err, "this side speaks version 1, the peer speaks version 7")
}

func TestHostileGarbageBeforeHandshake(t *testing.T) {
	t.Parallel()
	_, _, err := rawPair(t, func(raw net.Conn) {
		_, _ = raw.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		_, _ = io.Copy(io.Discard, raw)
	})
	require.ErrorIs(t, err, transport.ErrHandshake)
	require.ErrorContains(t, err, "the peer is not grove")
	checkOthersCarryOn(t)
}

func TestHostileHandshakeNeverFinishes(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, _, err := rawPair(t, func(raw net.Conn) {
		_, _ = raw.Write([]byte(transport.Preface)) // then silence
	}, transport.WithHandshakeTimeout(100*time.Millisecond))
	require.ErrorIs(t, err, transport.ErrHandshake)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.ErrorContains(t, err, "no handshake from the peer within 100ms")
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestHandshakeHonoursContext(t *testing.T) {
	t.Parallel()
	fa, fb, err := transport.Pair()
	require.NoError(t, err)
	defer fa.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := transport.FileConn(ctx, fb, transport.Responder)
		errc <- err
	}()
	cancel()
	err = <-errc
	require.ErrorIs(t, err, transport.ErrHandshake)
	require.ErrorIs(t, err, context.Canceled)
}

func TestBothInitiators(t *testing.T) {
	t.Parallel()
	fa, fb, err := transport.Pair()
	require.NoError(t, err)
	errs := make(chan error, 2)
	for _, f := range []*os.File{fa, fb} {
		go func() {
			c, err := transport.FileConn(context.Background(), f, transport.Initiator)
			if c != nil {
				c.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		err := <-errs
		require.ErrorIs(t, err, transport.ErrHandshake)
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			require.ErrorContains(t, err, "both sides claim the same side")
		}
	}
}

func TestPayloadUpToTheLimit(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil) // the default 64 MiB limit on both sides
	got := make(chan int, 1)
	defer serve(b, func(s *transport.Stream) {
		var p []byte
		if err := s.DecodeArgs(&p); err == nil {
			got <- len(p)
		}
		_ = s.Return(context.Background(), nil)
	})()
	// Find the envelope's overhead around a bin32 payload, then make the
	// frame body exactly the limit.
	probe, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindCall, ID: 1, Func: "big",
		Payload: raw(t, make([]byte, 1<<17))})
	require.NoError(t, err)
	overhead := len(probe) - 4 - 1<<17
	size := transport.DefaultMaxFrame - overhead
	ctx := context.Background()

	s, err := a.Call(ctx, "big", make([]byte, size))
	require.NoError(t, err, "a frame of exactly the limit is sent")
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	require.Equal(t, size, <-got)

	_, err = a.Call(ctx, "big", make([]byte, size+1))
	require.ErrorIs(t, err, transport.ErrFrameTooLarge, "one byte over is refused")
	require.NoError(t, a.Err(), "and the connection carries on")
	checkOthersCarryOn(t)
}

func TestSendHonoursContextWhenThePeerDoesNotRead(t *testing.T) {
	t.Parallel()
	c, raw := established(t)
	big := make([]byte, 8<<20) // far more than the socket buffers hold
	big[len(big)-1] = 0x5a
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Call(ctx, "big", big) // blocks writing until ctx ends
	require.NoError(t, err, "the frame was queued; it goes out when the peer reads")
	// Fill the queue behind the blocked write: once a megabyte waits, the
	// next send waits for room, and honours its ctx while it waits.
	filler := make([]byte, 2<<20)
	queuedFillers := 0
	for {
		short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_, err = c.Call(short, "filler", filler)
		cancelShort()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			break
		}
		queuedFillers++
		require.Less(t, queuedFillers, 8, "the queue never filled up")
	}
	queued := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), "small", 1)
		queued <- err
	}()

	// The peer starts reading: every queued frame arrives whole and in order.
	body, err := transport.ReadFrame(raw, 16<<20)
	require.NoError(t, err)
	m, err := transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Equal(t, "big", m.Func)
	var got []byte
	require.NoError(t, m.Decode(&got))
	require.Equal(t, big, got)
	for range queuedFillers {
		body, err = transport.ReadFrame(raw, 16<<20)
		require.NoError(t, err)
		m, err = transport.DecodeMessage(body)
		require.NoError(t, err)
		require.Equal(t, "filler", m.Func)
	}
	body, err = transport.ReadFrame(raw, 16<<20)
	require.NoError(t, err)
	m, err = transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Equal(t, "small", m.Func, "the refused filler never went out")
	require.NoError(t, <-queued)
	require.NoError(t, c.Err())
}

func TestHostileCalleeBreaksTheDialog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		reply [][]any // frames the raw callee sends on stream 2
		want  string
	}{
		{"Started twice", [][]any{{3, 2, "a"}, {3, 2, "b"}}, "Started on stream 2 after Started"},
		{"Started after a Yield", [][]any{{4, 2, "a"}, {3, 2, "b"}}, "Started on stream 2 after Started"},
		{"Started after Stop", [][]any{{5, 2}, {3, 2, "b"}}, "Started on stream 2 after Started, Yield or Stop"},
		{"Stop twice", [][]any{{5, 2}, {5, 2}}, "a second Stop"},
		{"Yield after Stop", [][]any{{5, 2}, {4, 2, "late"}}, "Yield after Stop"},
		{"Return for a stream never opened", [][]any{{6, 1, nil}}, "never opened"},
		{"Credit for stream 0", [][]any{{9, 0, 1}}, "never opened"},
		{"Cancel from the callee", [][]any{{8, 2}}, "Cancel on stream 2 from the callee"},
		// Also where int has 32 bits: a Credit of 2^31 or more was taken as
		// a negative int there, took the credit away and went unreported.
		{"credit overflow", [][]any{{9, 2, uint32(1<<32 - 1)}}, "credit overflow on stream 2"},
		{"credit overflow by 2^31", [][]any{{9, 2, uint32(1 << 31)}}, "credit overflow on stream 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, raw := established(t)
			_, err := c.Call(context.Background(), "f", nil) // stream 2: the responder's ids are even
			require.NoError(t, err)
			_, err = transport.ReadFrame(raw, 1<<20)
			require.NoError(t, err)
			var out []byte
			for _, f := range tc.reply {
				out = append(out, frameOf(t, f)...)
			}
			_, err = raw.Write(out)
			require.NoError(t, err)
			err = waitErr(t, c)
			require.ErrorIs(t, err, transport.ErrProtocol)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRawPayloadIsChecked(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, func(s *transport.Stream) { _ = s.Return(context.Background(), s.Args()) })()
	ctx := context.Background()
	_, err := a.Call(ctx, "echo", msgpack.RawMessage{0x93, 0x01})
	require.ErrorContains(t, err, "not one valid msgpack value")
	s, err := a.Call(ctx, "echo", msgpack.RawMessage{})
	require.NoError(t, err, "an empty raw payload stands for nil")
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, msgpack.RawMessage{0xc0}, m.Payload)
	require.NoError(t, a.Err(), "a refused payload does not harm the connection")
}

func TestPeerWindowOutOfRange(t *testing.T) {
	t.Parallel()
	_, _, err := rawPair(t, func(raw net.Conn) {
		h := rawHello(transport.Version)
		h.Hello.Window = 1 << 31
		out, _ := transport.AppendFrame([]byte(transport.Preface), h)
		_, _ = raw.Write(out)
		_, _ = io.Copy(io.Discard, raw)
	})
	require.ErrorIs(t, err, transport.ErrHandshake)
	require.ErrorContains(t, err, "window of 2147483648 items")
}

func TestDeepPayloadIsRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, echo)()
	var deep any = 1
	for range transport.MaxDepth {
		deep = []any{deep}
	}
	_, err := a.Call(context.Background(), "echo", deep)
	require.ErrorContains(t, err, "nested deeper than")
	require.NoError(t, a.Err(), "the connection carries on")
	checkOthersCarryOn(t)
}
