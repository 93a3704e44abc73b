//go:build unix

package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/grove-rt/grove/transport"
)

// examplePair connects two Conns over a socketpair, serving the second
// with handler.
func examplePair(ctx context.Context, handler func(*transport.Stream)) (caller, callee *transport.Conn, err error) {
	fa, fb, err := transport.Pair()
	if err != nil {
		return nil, nil, err
	}
	defer fa.Close() // each Conn holds its own descriptor
	defer fb.Close()
	var wg sync.WaitGroup
	var errB error
	wg.Go(func() { // both handshakes run at once: each side sends, then reads
		callee, errB = transport.FileConn(ctx, fb, transport.Responder, transport.WithHandler(handler))
	})
	caller, errA := transport.FileConn(ctx, fa, transport.Initiator)
	wg.Wait()
	if err := errors.Join(errA, errB); err != nil {
		if caller != nil {
			caller.Close()
		}
		if callee != nil {
			callee.Close()
		}
		return nil, nil, err
	}
	return caller, callee, nil
}

// A Call and its Return over a pair of Conns.
func ExampleConn_Call() {
	ctx := context.Background()
	caller, callee, err := examplePair(ctx, func(s *transport.Stream) {
		var name string
		if err := s.DecodeArgs(&name); err != nil {
			_ = s.Fail(ctx, &transport.ErrorInfo{Type: "args", Message: err.Error()})
			return
		}
		_ = s.Return(ctx, "hello, "+name)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer callee.Close()
	defer caller.Close()

	s, err := caller.Call(ctx, "greet", "grove")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	m, err := s.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	var reply string
	fmt.Println(m.Kind, m.Decode(&reply), reply)
	_, err = s.Recv(ctx)
	fmt.Println(err)
	// Output:
	// Return <nil> hello, grove
	// EOF
}

// A stream: the callee yields items, flow-controlled by the caller's
// credit, then ends with a Return.
func ExampleStream_Yield() {
	ctx := context.Background()
	caller, callee, err := examplePair(ctx, func(s *transport.Stream) {
		var n int
		if err := s.DecodeArgs(&n); err != nil {
			_ = s.Fail(ctx, &transport.ErrorInfo{Type: "args", Message: err.Error()})
			return
		}
		for i := range n {
			if err := s.Yield(s.Context(), i*i); err != nil {
				return // the caller cancelled, or the connection ended
			}
		}
		_ = s.Return(ctx, n)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer callee.Close()
	defer caller.Close()

	s, err := caller.Call(ctx, "squares", 4)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for {
		m, err := s.Recv(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		var v int
		_ = m.Decode(&v)
		fmt.Println(m.Kind, v)
	}
	// Output:
	// Yield 0
	// Yield 1
	// Yield 4
	// Yield 9
	// Return 4
}
