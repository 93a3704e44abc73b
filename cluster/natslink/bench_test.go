package natslink_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/natslink"
	"github.com/grove-rt/grove/transport"
)

// BenchmarkLinkCallRoundTrip measures a grove call (a 64-byte echo) over
// natslink through an embedded nats-server on loopback, beside its floor,
// a raw NATS request/reply of 64 bytes, and the same call over a
// socketpair (a connected pair of Unix sockets, in process).
// Compare medians of -count runs (benchstat).
func BenchmarkLinkCallRoundTrip(b *testing.B) {
	payload := string(make([]byte, 64))
	b.Run("natslink", func(b *testing.B) {
		client, _ := conns(b, natslink.Config{})
		benchCalls(b, client, payload)
	})
	b.Run("nats-request", func(b *testing.B) {
		s := startServer(b, -1)
		nc := connect(b, s.ClientURL(), nil)
		resp := connect(b, s.ClientURL(), nil)
		sub, err := resp.Subscribe("bench.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
		require.NoError(b, err)
		defer sub.Unsubscribe()
		require.NoError(b, resp.Flush())
		data := []byte(payload)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := nc.Request("bench.echo", data, 5*time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("socketpair", func(b *testing.B) {
		client := socketpairConns(b)
		benchCalls(b, client, payload)
	})
}

func benchCalls(b *testing.B, c *transport.Conn, payload string) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var got string
		if _, err := call(ctx, c, "echo", payload, &got); err != nil {
			b.Fatal(err)
		}
	}
}

func socketpairConns(b *testing.B) *transport.Conn {
	b.Helper()
	dir := b.TempDir()
	ln, err := net.Listen("unix", dir+"/s")
	require.NoError(b, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	nca, err := net.Dial("unix", dir+"/s")
	require.NoError(b, err)
	ncb := <-accepted
	require.NotNil(b, ncb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan *transport.Conn, 1)
	go func() {
		c, err := transport.NewConn(ctx, ncb, transport.Responder, transport.WithHandler(serve))
		if err != nil {
			done <- nil
			return
		}
		done <- c
	}()
	client, err := transport.NewConn(ctx, nca, transport.Initiator)
	require.NoError(b, err)
	srv := <-done
	require.NotNil(b, srv)
	b.Cleanup(func() { client.Close(); srv.Close() })
	return client
}
