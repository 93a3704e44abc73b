//go:build unix

package transport_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// The test binary re-executes itself as the peer of cross-process tests
// and benchmarks: with peerEnv set, TestMain runs runPeer on the socket
// inherited as file descriptor 3 instead of the tests.
const peerEnv = "GROVE_TRANSPORT_TEST_PEER"

const (
	peerFloor     = "floor"      // echo 64-byte messages on the bare socket
	peerFloorLoop = "floor-loop" // the same, through a receive loop goroutine
	peerGrove     = "grove"      // serve echo and stream calls over a Conn
)

func runPeer(mode string) int {
	f := os.NewFile(3, "peer-socket")
	if mode == peerFloor || mode == peerFloorLoop {
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer nc.Close()
		if mode == peerFloor {
			var buf [64]byte
			for {
				if _, err := io.ReadFull(nc, buf[:]); err != nil {
					return 0 // the parent closed the socket
				}
				if _, err := nc.Write(buf[:]); err != nil {
					return 0
				}
			}
		}
		for msg := range receiveLoop(nc) {
			if _, err := nc.Write(msg); err != nil {
				return 0
			}
		}
		return 0
	}
	switch mode {
	case peerGrove:
		ctx := context.Background()
		c, err := transport.FileConn(ctx, f, transport.Responder,
			transport.WithIdentity(transport.ActorID{Name: "peer", ID: "p1", PID: os.Getpid()}, "child"),
			transport.WithHandler(func(s *transport.Stream) { servePeerCall(ctx, s) }))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		<-c.Done() // until the parent closes the connection
		c.Close()
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown peer mode", mode)
	return 2
}

// receiveLoop reads 64-byte messages from nc on a goroutine of its own and
// hands each over on the channel it returns, closed at the end of input:
// the least a connection with one receive loop does.
func receiveLoop(nc net.Conn) <-chan []byte {
	out := make(chan []byte)
	go func() {
		defer close(out)
		for {
			msg := make([]byte, 64)
			if _, err := io.ReadFull(nc, msg); err != nil {
				return
			}
			out <- msg
		}
	}()
	return out
}

func servePeerCall(ctx context.Context, s *transport.Stream) {
	switch s.Func() {
	case "echo":
		_ = s.Return(ctx, s.Args())
	case "stream":
		var n int
		_ = s.DecodeArgs(&n)
		item := make([]byte, 16)
		for i := range n {
			item[0] = byte(i)
			if err := s.Yield(ctx, item); err != nil {
				return
			}
		}
		_ = s.Return(ctx, n)
	case "pid":
		_ = s.Return(ctx, os.Getpid())
	default:
		_ = s.Fail(ctx, &transport.ErrorInfo{Type: "notFound", Message: "no function " + s.Func()})
	}
}

// startPeer re-executes the test binary as a peer in mode and returns the
// parent's end of the socketpair. The peer is waited for when the test
// ends, after the socket closes, so no process is left behind.
func startPeer(t testing.TB, mode string) *os.File {
	t.Helper()
	local, remote, err := transport.Pair()
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+mode)
	cmd.ExtraFiles = []*os.File{remote}
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	remote.Close()
	t.Cleanup(func() {
		local.Close() // harmless if FileConn already took it
		if err := cmd.Wait(); err != nil {
			t.Errorf("peer process: %v", err)
		}
	})
	return local
}

// TestAcrossProcesses runs a call and a stream against a peer in another
// process, over an inherited socketpair.
func TestAcrossProcesses(t *testing.T) {
	t.Parallel()
	f := startPeer(t, peerGrove)
	ctx := context.Background()
	c, err := transport.FileConn(ctx, f, transport.Initiator)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "peer", c.Peer().Actor.Name)
	require.NotEqual(t, os.Getpid(), c.Peer().Actor.PID)

	s, err := c.Call(ctx, "pid", nil)
	require.NoError(t, err)
	m, err := s.Recv(ctx)
	require.NoError(t, err)
	var pid int
	require.NoError(t, m.Decode(&pid))
	require.Equal(t, c.Peer().Actor.PID, pid)

	s, err = c.Call(ctx, "stream", 5000)
	require.NoError(t, err)
	items := 0
	for {
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		if m.Kind != transport.KindYield {
			require.Equal(t, transport.KindReturn, m.Kind)
			break
		}
		items++
	}
	require.Equal(t, 5000, items)
}
