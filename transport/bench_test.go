//go:build unix

package transport_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// BenchmarkRoundTrip compares, between two processes over an inherited
// socketpair, the floor (64 bytes ping-ponged on the bare socket, each side
// reading and writing on one goroutine) with grove (a Call of a 64-byte
// payload answered by a Return, over a Conn). floor-loop is the floor with
// one receive-loop goroutine per side handing each message over a channel,
// the least any connection that serves concurrent callers does: on a small
// VM that handoff, not framing or msgpack, is most of grove's cost.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		f := startPeer(b, peerFloor)
		nc, err := net.FileConn(f)
		require.NoError(b, err)
		defer nc.Close()
		var buf [64]byte
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := nc.Write(buf[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(nc, buf[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor-loop", func(b *testing.B) {
		f := startPeer(b, peerFloorLoop)
		nc, err := net.FileConn(f)
		require.NoError(b, err)
		received := receiveLoop(nc)
		defer func() {
			nc.Close()
			for range received { // wait for the receive loop to end
			}
		}()
		var buf [64]byte
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := nc.Write(buf[:]); err != nil {
				b.Fatal(err)
			}
			if _, ok := <-received; !ok {
				b.Fatal("peer closed")
			}
		}
	})
	b.Run("grove", func(b *testing.B) {
		c := dialPeer(b)
		defer c.Close()
		benchCalls(b, c)
	})
}

// benchCalls times b.N calls of "echo" with a 64-byte payload on c.
func benchCalls(b *testing.B, c *transport.Conn) {
	ctx := context.Background()
	payload := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s, err := c.Call(ctx, "echo", payload)
		if err != nil {
			b.Fatal(err)
		}
		m, err := s.Recv(ctx)
		if err != nil || m.Kind != transport.KindReturn {
			b.Fatal(m, err)
		}
	}
}

// BenchmarkStream measures one-way streaming of 16-byte items from a peer
// process, with coalesced writes and credit-based flow control.
func BenchmarkStream(b *testing.B) {
	c := dialPeer(b)
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	s, err := c.Call(ctx, "stream", b.N)
	require.NoError(b, err)
	items := 0
	for {
		m, err := s.Recv(ctx)
		if err != nil { // not require: its Helper call costs more than an item
			b.Fatal(err)
		}
		if m.Kind != transport.KindYield {
			break
		}
		items++
	}
	elapsed := time.Since(start)
	require.Equal(b, b.N, items)
	b.ReportMetric(float64(items)/elapsed.Seconds(), "items/s")
}

// BenchmarkCallInProcess measures a Call and Return between two goroutines
// over an in-process socketpair: the cost without a second process.
func BenchmarkCallInProcess(b *testing.B) {
	a, peer := connPair(b, nil, nil)
	defer serve(peer, func(s *transport.Stream) { _ = s.Return(context.Background(), s.Args()) })()
	benchCalls(b, a)
}

// BenchmarkEncodeDecode measures one Yield envelope with a 64-byte payload
// through the encoder and the validating decoder.
func BenchmarkEncodeDecode(b *testing.B) {
	m := &transport.Message{Kind: transport.KindYield, ID: 7, Payload: raw(b, make([]byte, 64))}
	b.ReportAllocs()
	var frame []byte
	for range b.N {
		var err error
		frame, err = transport.AppendFrame(frame[:0], m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := transport.DecodeMessage(frame[4:]); err != nil {
			b.Fatal(err)
		}
	}
}

func dialPeer(b *testing.B) *transport.Conn {
	b.Helper()
	f := startPeer(b, peerGrove)
	c, err := transport.FileConn(context.Background(), f, transport.Initiator)
	require.NoError(b, err)
	return c
}

// BenchmarkUnmarshal measures the strict decoding beside msgpack's own, for
// a small int and a small struct.
func BenchmarkUnmarshal(b *testing.B) {
	type item struct {
		ID    int
		Name  string
		Score int16
		Tags  []uint8
	}
	for _, c := range []struct {
		name string
		wire any
		into func() any
	}{
		{"int", 42, func() any { return new(int) }},
		{"struct", item{7, "seven", 700, []uint8{1, 2}}, func() any { return new(item) }},
		{"ints", ints(100), func() any { return new([]int) }},
	} {
		data := raw(b, c.wire)
		v := c.into()
		b.Run(c.name+"/msgpack", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := msgpack.Unmarshal(data, v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/strict", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := transport.Unmarshal(data, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ints returns n integers of every size msgpack encodes, fixints mostly.
func ints(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i * i * i // 0…970299: fixint, uint8, uint16, uint32
	}
	return out
}

// BenchmarkPayloadInProcess measures a Call of a []byte of each size
// echoed by a Return, both decoded into []byte as actor does, between two
// goroutines over an in-process socketpair: the cost of moving the bytes
// through both ends, with a profile of both in one process.
func BenchmarkPayloadInProcess(b *testing.B) {
	for _, size := range []int{64, 16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			a, peer := connPair(b, nil, nil)
			defer serve(peer, echoBytes)()
			ctx := context.Background()
			payload := make([]byte, size)
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			for b.Loop() {
				s, err := a.Call(ctx, "echo", payload)
				if err != nil {
					b.Fatal(err)
				}
				m, err := s.Recv(ctx)
				if err != nil || m.Kind != transport.KindReturn {
					b.Fatal(m, err)
				}
				var out []byte
				if err := m.Decode(&out); err != nil || len(out) != size {
					b.Fatal(len(out), err)
				}
			}
		})
	}
}
