//go:build unix

package transport_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// writeFrames writes frames (envelopes as arrays) to raw at once.
func writeFrames(t *testing.T, raw net.Conn, frames ...[]any) {
	t.Helper()
	var out []byte
	for _, f := range frames {
		out = append(out, frameOf(t, f)...)
	}
	_, err := raw.Write(out)
	require.NoError(t, err)
}

// readUntil reads frames from raw until one of kind on stream id, and
// returns it; it fails after 100 frames or 10 s.
func readUntil(t *testing.T, raw net.Conn, kind transport.Kind, id uint64) *transport.Message {
	t.Helper()
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(10*time.Second)))
	defer raw.SetReadDeadline(time.Time{})
	for range 100 {
		body, err := transport.ReadFrame(raw, 16<<20)
		require.NoError(t, err)
		m, err := transport.DecodeMessage(body)
		require.NoError(t, err)
		if m.Kind == kind && m.ID == id {
			return m
		}
	}
	t.Fatalf("no %s on stream %d in 100 frames", kind, id)
	return nil
}

// callRaw returns a Conn whose raw peer serves with returnOK, and a
// stream the Conn opened to the raw peer (stream 2), whose Call the peer
// has read.
func callRaw(t *testing.T) (*transport.Conn, net.Conn, *transport.Stream) {
	t.Helper()
	c, raw := established(t, transport.WithHandler(returnOK))
	s, err := c.Call(context.Background(), "f", nil)
	require.NoError(t, err)
	readUntil(t, raw, transport.KindCall, 2)
	return c, raw, s
}

// returnOK is a handler that returns "ok" at once.
func returnOK(s *transport.Stream) { _ = s.Return(context.Background(), "ok") }

// checkServes checks that c, whose raw peer is the initiator, still serves
// a Call on stream id: everything the peer sent before it was taken
// without ending the connection.
func checkServes(t *testing.T, c *transport.Conn, raw net.Conn, id uint64) {
	t.Helper()
	writeFrames(t, raw, []any{2, id, "f", nil})
	readUntil(t, raw, transport.KindReturn, id)
	require.NoError(t, c.Err())
}

// TestHostileCallerBreaksTheDialog: what only the callee may send, and
// what the caller may no longer send after its Stop, are violations when
// the caller sends them on a live stream (PROTOCOL.md sections 7, 10.2).
func TestHostileCallerBreaksTheDialog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		frames [][]any // what the raw caller sends on stream 1, after its Call
		want   string
	}{
		{"Started from the caller", [][]any{{3, 1, "a"}}, "Started on stream 1 from the caller"},
		{"Return from the caller", [][]any{{6, 1, "a"}}, "Return on stream 1 from the caller"},
		{"Error from the caller", [][]any{{7, 1, map[string]any{"type": "x", "message": "y"}}}, "Error on stream 1 from the caller"},
		{"Yield after Stop", [][]any{{5, 1}, {4, 1, "late"}}, "Yield after Stop on stream 1"},
		{"Stop twice", [][]any{{4, 1, "a"}, {5, 1}, {5, 1}}, "a second Stop on stream 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			c, raw := established(t, transport.WithHandler(func(s *transport.Stream) {
				<-release // the stream stays live until the connection ends
			}))
			defer close(release)
			writeFrames(t, raw, append([][]any{{2, 1, "f", nil}}, tc.frames...)...)
			err := waitErr(t, c)
			require.ErrorIs(t, err, transport.ErrProtocol)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestLateFramesAreIgnored: once a stream has ended, whatever still
// arrives for it is late and ignored, even what would have been a
// violation while it was live (PROTOCOL.md sections 7, 10.3): Yields
// and Batches after the Return, a second Return, Started, Stop, Credit and
// Cancel, in either direction.
func TestLateFramesAreIgnored(t *testing.T) {
	t.Parallel()
	late := func(id uint64) [][]any {
		return [][]any{
			{4, id, "late"}, {10, id, []any{1, 2}}, {3, id, "late"}, {5, id}, {5, id},
			{6, id, "again"}, {7, id, map[string]any{"type": "x", "message": "y"}},
			{9, id, 1}, {8, id}, {4, id, "after Stop"},
		}
	}
	t.Run("to the caller, after the callee's Return", func(t *testing.T) {
		t.Parallel()
		c, raw, s := callRaw(t)
		ctx := context.Background()
		writeFrames(t, raw, append([][]any{{4, 2, "item"}, {6, 2, "result"}}, late(2)...)...)
		checkServes(t, c, raw, 1)
		for _, kind := range []transport.Kind{transport.KindYield, transport.KindReturn} {
			m, err := s.Recv(ctx)
			require.NoError(t, err)
			require.Equal(t, kind, m.Kind)
		}
		_, err := s.Recv(ctx)
		require.ErrorIs(t, err, io.EOF)
		require.NoError(t, s.Cancel(ctx), "a Cancel after the end is harmless")
		require.ErrorIs(t, s.Yield(ctx, 1), transport.ErrStreamClosed)
	})
	t.Run("to the callee, after its Return", func(t *testing.T) {
		t.Parallel()
		c, raw := established(t, transport.WithHandler(returnOK))
		writeFrames(t, raw, []any{2, 1, "f", nil})
		readUntil(t, raw, transport.KindReturn, 1)
		writeFrames(t, raw, late(1)...)
		checkServes(t, c, raw, 3)
	})
	t.Run("to the caller, after it closed the stream", func(t *testing.T) {
		t.Parallel()
		c, raw, s := callRaw(t)
		require.NoError(t, s.Close())
		readUntil(t, raw, transport.KindCancel, 2)
		writeFrames(t, raw, late(2)...)
		checkServes(t, c, raw, 1)
		_, err := s.Recv(context.Background())
		require.ErrorIs(t, err, transport.ErrStreamClosed)
	})
}

// TestHarmlessFramesOnALiveStream: a repeated Cancel, and Credit for a
// direction that has stopped, are not violations (PROTOCOL.md section
// 10.3): the callee sees the cancel once and serves on.
func TestHarmlessFramesOnALiveStream(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	c, raw := established(t, transport.WithHandler(func(s *transport.Stream) {
		ctx := context.Background()
		if s.Func() != "duplex" {
			returnOK(s)
			return
		}
		if err := s.Stop(ctx); err != nil {
			got <- err
			return
		}
		<-s.Canceled()
		m, err := s.Recv(ctx) // the caller's Stop
		if err == nil && m.Kind != transport.KindStop {
			err = io.ErrUnexpectedEOF
		}
		got <- err
		_ = s.Return(ctx, "ok")
	}))
	writeFrames(t, raw, []any{2, 1, "duplex", nil})
	readUntil(t, raw, transport.KindStop, 1)
	writeFrames(t, raw, []any{9, 1, 5}, []any{8, 1}, []any{8, 1}, []any{9, 1, 5}, []any{5, 1})
	require.NoError(t, <-got)
	readUntil(t, raw, transport.KindReturn, 1)
	checkServes(t, c, raw, 3)
}
