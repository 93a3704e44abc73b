package transport_test

import (
	"context"
	"fmt"
	"net"

	"github.com/grove-rt/grove/transport"
)

// A Call carries the metadata of its caller's ctx; the callee reads it
// from its stream.
func ExampleContextWithMetadata() {
	ctx := context.Background()
	a, b := net.Pipe()
	served := make(chan *transport.Conn, 1)
	go func() {
		c, err := transport.NewConn(ctx, b, transport.Responder, transport.WithHandler(func(s *transport.Stream) {
			_ = s.Return(ctx, "traceparent="+s.Metadata()["traceparent"])
		}))
		if err != nil {
			panic(err)
		}
		served <- c
	}()
	c, err := transport.NewConn(ctx, a, transport.Initiator)
	if err != nil {
		panic(err)
	}
	defer func() { c.Close(); (<-served).Close() }()

	ctx = transport.ContextWithMetadata(ctx, transport.Metadata{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	s, err := c.Call(ctx, "hello", nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	m, err := s.Recv(ctx)
	if err != nil {
		panic(err)
	}
	var answer string
	if err := m.Decode(&answer); err != nil {
		panic(err)
	}
	fmt.Println(answer)
	// Output: traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
}
