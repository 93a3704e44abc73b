package natslink_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/natslink"
	"github.com/grove-rt/grove/transport"
)

// serve answers "echo" (its args), "count" (n Yields then a Return),
// "bytes" (n bytes) and "metadata" (the Call's metadata).
func serve(s *transport.Stream) {
	ctx := s.Context()
	switch s.Func() {
	case "echo":
		var v any
		_ = s.DecodeArgs(&v)
		_ = s.Return(ctx, v)
	case "count":
		var n int
		_ = s.DecodeArgs(&n)
		for i := range n {
			if s.Yield(ctx, i) != nil {
				return
			}
		}
		_ = s.Return(ctx, n)
	case "bytes":
		var n int
		_ = s.DecodeArgs(&n)
		_ = s.Return(ctx, bytes.Repeat([]byte{0xab}, n))
	case "metadata":
		_ = s.Return(ctx, map[string]string(s.Metadata()))
	}
}

// conns runs grove's wire over a pair of links.
func conns(tb testing.TB, cfg natslink.Config, opts ...transport.Option) (client, server *transport.Conn) {
	tb.Helper()
	s := startServer(tb, -1)
	a, b := pair(tb, s, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		c   *transport.Conn
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := transport.NewConn(ctx, b, transport.Responder, append(opts, transport.WithHandler(serve))...)
		done <- res{c, err}
	}()
	client, err := transport.NewConn(ctx, a, transport.Initiator, opts...)
	require.NoError(tb, err)
	r := <-done
	require.NoError(tb, r.err)
	tb.Cleanup(func() { client.Close(); r.c.Close() })
	return client, r.c
}

// call makes one call and returns its Return's payload decoded into v.
func call(ctx context.Context, c *transport.Conn, fn string, args, v any) (items int, err error) {
	s, err := c.Call(ctx, fn, args)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			return items, err
		}
		switch m.Kind {
		case transport.KindYield:
			var i int
			if err := m.Decode(&i); err != nil {
				return items, err
			}
			if i != items {
				return items, &natslink.ProtocolError{Reason: "items out of order"}
			}
			items++
		case transport.KindReturn:
			return items, m.Decode(v)
		}
	}
}

func TestTransportOverLinks(t *testing.T) {
	t.Parallel()
	client, _ := conns(t, natslink.Config{DeadInterval: testT})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("calls", func(t *testing.T) {
		for i := range 100 {
			var got string
			_, err := call(ctx, client, "echo", "hello", &got)
			require.NoError(t, err, "call %d", i)
			require.Equal(t, "hello", got)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		// A remote call's Call frame keeps its metadata (a trace context):
		// the link carries the frames unchanged.
		md := transport.Metadata{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "baggage": "k=v"}
		var got map[string]string
		_, err := call(transport.ContextWithMetadata(ctx, md), client, "metadata", nil, &got)
		require.NoError(t, err)
		require.Equal(t, map[string]string(md), got)
	})
	t.Run("stream of 1000 items", func(t *testing.T) {
		var n int
		items, err := call(ctx, client, "count", 1000, &n)
		require.NoError(t, err)
		require.Equal(t, 1000, items)
		require.Equal(t, 1000, n)
	})
	t.Run("3 MiB frame", func(t *testing.T) {
		var b []byte
		_, err := call(ctx, client, "bytes", 3<<20, &b)
		require.NoError(t, err)
		require.Equal(t, bytes.Repeat([]byte{0xab}, 3<<20), b)
	})
}

func TestTransport64MiBFrame(t *testing.T) {
	if testing.Short() {
		t.Skip("a 64 MiB frame: not in -short")
	}
	// Not parallel: under the race detector its copies stall the process,
	// which would stretch the other tests' timers.
	client, _ := conns(t, natslink.Config{DeadInterval: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	n := 64<<20 - 64 // the frame's header and msgpack prefix fit under the limit
	var b []byte
	_, err := call(ctx, client, "bytes", n, &b)
	require.NoError(t, err)
	require.Len(t, b, n)
}
