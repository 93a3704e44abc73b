package natslink_test

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/cluster/natslink"
)

// detached returns a link of cfg with no NATS connection and the function
// that feeds it its peer's messages, closed when the test ends.
func detached(t *testing.T, cfg natslink.Config) (*natslink.Link, func([]byte)) {
	t.Helper()
	l, feed, err := natslink.NewDetached(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l, feed
}

// ctl returns a control message of type typ with body v.
func ctl(typ byte, v uint64) []byte {
	m := make([]byte, 17)
	m[0] = typ
	binary.BigEndian.PutUint64(m[9:], v)
	return m
}

// TestNackAmplification: a peer alternating nacks of two seqs must not make
// the link resend its window per nack.
func TestNackAmplification(t *testing.T) {
	t.Parallel()
	l, feed := detached(t, natslink.Config{Send: "a", Recv: "b", DeadInterval: 10 * time.Second})
	var published atomic.Int64
	natslink.SetPublishHook(l, func(m []byte, publish func([]byte) error) error {
		if m[0] == 0 {
			published.Add(1)
		}
		return publish(m)
	})
	const sent = 8
	for range sent {
		_, err := l.Write(make([]byte, 1000))
		require.NoError(t, err)
	}
	published.Store(0)
	for i := range 200 {
		feed(ctl(3, uint64(1+i%2)))
	}
	require.NoError(t, l.Err())
	require.LessOrEqual(t, published.Load(), int64(2*sent), "200 nacks resent %d messages", published.Load())
}

// TestSilenceGraceOnce: a late tick postpones the silence verdict once per
// silence, not at every late tick.
func TestSilenceGraceOnce(t *testing.T) {
	t.Parallel()
	const T = time.Second
	l, _ := detached(t, natslink.Config{Send: "a", Recv: "b", DeadInterval: T})
	late := T / 2 // every tick is late: a loaded host
	heard := l.LastHeard()
	now := heard.Add(T)
	natslink.Tick(l, now, late)
	require.NoError(t, l.Err(), "the first late tick gets one more look")
	for i := 0; i < 10 && l.Err() == nil; i++ {
		now = now.Add(T / 4)
		natslink.Tick(l, now, late)
	}
	var se *natslink.SilenceError
	require.ErrorAs(t, l.Err(), &se, "late ticks postponed the verdict without end")
	require.LessOrEqual(t, now.Sub(heard), T+T/4)
}

// TestSilenceGracePerEpisode: a message heard starts a new silence, which
// may be postponed once again.
func TestSilenceGracePerEpisode(t *testing.T) {
	t.Parallel()
	const T = time.Second
	l, feed := detached(t, natslink.Config{Send: "a", Recv: "b", DeadInterval: T})
	natslink.Tick(l, l.LastHeard().Add(T), T/2)
	require.NoError(t, l.Err())
	feed(ctl(2, 0)) // an ack of nothing: the peer is heard
	natslink.Tick(l, l.LastHeard().Add(T), T/2)
	require.NoError(t, l.Err(), "a new silence gets its own extension")
}

// TestHostileLog: a Log message is checked as it decodes, before the
// decoder allocates what it declares. Not parallel: it measures allocation.
func TestHostileLog(t *testing.T) {
	// fixmap of 2: "fd": 1, "lines": array32 of 2^32-1 entries, then nothing.
	lines := []byte{0x82, 0xa2, 'f', 'd', 0x01, 0xa5, 'l', 'i', 'n', 'e', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}
	many := make([]string, natslink.MaxLogLines+1)
	tooMany, err := msgpack.Marshal(natslink.Log{FD: 1, Lines: many})
	require.NoError(t, err)
	cases := []struct {
		name string
		body []byte
	}{
		{"declares 2^32 lines", lines},
		{"more than MaxLogLines lines", tooMany},
		{"a log larger than a chunk", append(append([]byte{0x82, 0xa2, 'f', 'd', 0x01, 0xa5, 'l', 'i', 'n', 'e', 's', 0x91, 0xdb}, binary.BigEndian.AppendUint32(nil, natslink.MaxChunk)...), make([]byte, natslink.MaxChunk)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs int
			l, feed := detached(t, natslink.Config{Send: "a", Recv: "b", DeadInterval: testT, OnLog: func(natslink.Log) { logs++ }})
			m := append([]byte{4, 0, 0, 0, 0, 0, 0, 0, 1}, tc.body...)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			feed(m)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, l.Err(), natslink.ErrProtocol)
			require.Zero(t, logs)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4*len(m)+1<<20), "decoding allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
		})
	}
}

func TestSendLogTooManyLines(t *testing.T) {
	t.Parallel()
	l, _ := detached(t, natslink.Config{Send: "a", Recv: "b", DeadInterval: testT})
	err := l.SendLog(natslink.Log{FD: 1, Lines: make([]string, natslink.MaxLogLines+1)})
	require.Error(t, err)
	require.Contains(t, err.Error(), "split")
	require.NoError(t, l.SendLog(natslink.Log{FD: 1, Lines: make([]string, natslink.MaxLogLines)}))
}
