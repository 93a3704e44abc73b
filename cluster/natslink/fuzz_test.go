package natslink_test

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/natslink"
)

// msg builds a message for the seeds.
func msg(typ byte, seq uint64, body []byte) []byte {
	m := make([]byte, 9, 9+len(body))
	m[0] = typ
	binary.BigEndian.PutUint64(m[1:9], seq)
	return append(m, body...)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// frames joins messages as the fuzz input: each one prefixed with its
// length (2 bytes, big-endian).
func frames(ms ...[]byte) []byte {
	var b []byte
	for _, m := range ms {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// FuzzReceive feeds a link arbitrary message sequences from its peer: it
// never panics, its unread bytes stay within the window, and it either
// stays up or ends with a *ProtocolError.
func FuzzReceive(f *testing.F) {
	f.Add(frames(msg(0, 1, []byte("hello")), msg(0, 2, []byte(" world")), msg(6, 3, nil)))
	f.Add(frames(msg(0, 2, []byte("gap")), msg(0, 1, []byte("a")), msg(0, 1, []byte("dup")), msg(0, 2, []byte("b"))))
	f.Add(frames(msg(2, 0, u64(2)), msg(3, 0, u64(3)), msg(1, 5, u64(0))))
	f.Add(frames(msg(4, 1, []byte{0x82, 0xa2, 'f', 'd', 1, 0xa5, 'l', 'i', 'n', 'e', 's', 0x91, 0xa1, 'x'}),
		msg(5, 2, []byte{0x81, 0xa4, 'c', 'o', 'd', 'e', 3})))
	f.Add(frames(msg(6, 1, nil), msg(0, 2, []byte("after fin"))))
	f.Add([]byte{0, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		var logs, exits int
		l, feed, err := natslink.NewDetached(natslink.Config{
			Send: "s", Recv: "r", Window: natslink.MaxChunk,
			OnLog:  func(natslink.Log) { logs++ },
			OnExit: func(natslink.Exit) { exits++ },
		})
		require.NoError(t, err)
		// No Close: a detached link has no goroutine, and no peer would ack its fin.
		// Three messages sent: acks and nacks of seqs 1..3 are in range.
		for range 3 {
			_, err := l.Write([]byte("out"))
			require.NoError(t, err)
		}
		require.NoError(t, l.SetReadDeadline(time.Unix(1, 0)))
		buf := make([]byte, 4096)
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			n = min(n, len(in))
			feed(in[:n])
			in = in[n:]
			require.LessOrEqual(t, natslink.Buffered(l), natslink.MaxChunk)
			if _, err := l.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				if l.Err() == nil {
					require.Equal(t, "EOF", err.Error()) // the peer's fin
				}
			}
		}
		if err := l.Err(); err != nil {
			var pe *natslink.ProtocolError
			require.ErrorAs(t, err, &pe)
		}
	})
}
