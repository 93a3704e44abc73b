//go:build unix

package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// TestPythonPeer streams to testdata/peer.py, a peer written in Python
// from PROTOCOL.md alone (msgpack by hand, standard library only): once
// offering batches of up to 64 items, once offering none, as a peer that
// predates them. The callee's first write is held until a whole window of
// items is queued behind it, so they leave in Batches when offered; the
// peer checks order, the offer, and that no Batch comes unoffered.
func TestPythonPeer(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH")
	}
	const n, window, offer = 5000, 64, 64
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, c := range []struct {
		name     string
		batch    int
		metadata string
	}{{"offering batches, with metadata", offer, traceparent}, {"offering none, no metadata", 0, ""}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			local, remote, err := transport.Pair()
			require.NoError(t, err)
			cmd := exec.CommandContext(ctx, py, "testdata/peer.py")
			cmd.Env = append(os.Environ(), "N="+strconv.Itoa(n), "WINDOW="+strconv.Itoa(window), "BATCH="+strconv.Itoa(c.batch), "METADATA="+c.metadata)
			cmd.ExtraFiles = []*os.File{remote}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			remote.Close()

			nc, err := net.FileConn(local)
			local.Close()
			require.NoError(t, err)
			gated := &gatedConn{Conn: nc, gate: make(chan struct{})}
			defer gated.release()
			conn, err := transport.NewConn(ctx, gated, transport.Responder, transport.WithHandler(func(s *transport.Stream) {
				var want int
				if s.Func() != "stream" || s.DecodeArgs(&want) != nil {
					_ = s.Fail(ctx, &transport.ErrorInfo{Type: "bad", Message: "not a stream call"})
					return
				}
				if got := s.Metadata()["traceparent"]; got != c.metadata || len(s.Metadata()) > 1 {
					_ = s.Fail(ctx, &transport.ErrorInfo{Type: "bad", Message: fmt.Sprintf("metadata %v", s.Metadata())})
					return
				}
				gated.armed.Store(true) // the handshake is over: hold the first item's write
				item := make([]byte, 16)
				for i := range want {
					item[0] = byte(i)
					if err := s.Yield(ctx, item); err != nil {
						return
					}
					if i == window-1 {
						gated.release() // a window of items is queued behind the held write
					}
				}
				_ = s.Return(ctx, want)
			}))
			require.NoError(t, err)
			defer conn.Close()
			require.Equal(t, uint32(c.batch), conn.Peer().Batch)
			if c.metadata != "" {
				// The other direction: the peer answers with the metadata it read.
				md := transport.Metadata{"traceparent": c.metadata, "baggage": "k=v"}
				s, err := conn.Call(transport.ContextWithMetadata(ctx, md), "metadata", nil)
				require.NoError(t, err)
				m, err := s.Recv(ctx)
				require.NoError(t, err)
				require.Equal(t, transport.KindReturn, m.Kind)
				var got map[string]string
				require.NoError(t, m.Decode(&got))
				require.Equal(t, map[string]string(md), got)
				require.NoError(t, s.Close())
			}
			require.NoError(t, cmd.Wait(), "peer.py: %s", stderr.String())

			var items, frames, batches, largest int
			_, err = fmt.Sscanf(stdout.String(), "items=%d frames=%d batches=%d largest=%d", &items, &frames, &batches, &largest)
			require.NoError(t, err, stdout.String())
			require.Equal(t, n, items)
			if c.batch == 0 {
				require.Zero(t, batches)
				require.Equal(t, n, frames, "one Yield an item")
			} else {
				require.Positive(t, batches, "the items queued behind the held write left in Batches")
				require.LessOrEqual(t, largest, offer)
				require.Less(t, frames, n)
			}
			t.Log(stdout.String())
		})
	}
}
