package natslink_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/natslink"
)

// pattern returns n bytes that differ from any shifted copy of themselves.
func pattern(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// transfer writes want from a to b in writes of random sizes, reads it all
// on b, closes a and checks that b then reads io.EOF.
func transfer(t *testing.T, a, b *natslink.Link, want []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		r := rand.New(rand.NewPCG(3, 4))
		for p := want; len(p) > 0; {
			n := min(len(p), 1+r.IntN(200<<10))
			if _, err := a.Write(p[:n]); err != nil {
				errc <- err
				return
			}
			p = p[n:]
		}
		errc <- a.Close()
	}()
	require.NoError(t, b.SetReadDeadline(time.Now().Add(20*time.Second)))
	got, err := io.ReadAll(b)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.True(t, bytes.Equal(want, got), "received %d bytes, not the %d sent in order", len(got), len(want))
}

// dataSeq returns the seq of a data message, or 0.
func dataSeq(m []byte) uint64 {
	if len(m) < 9 || m[0] != 0 {
		return 0
	}
	return binary.BigEndian.Uint64(m[1:9])
}

func TestOrderDuplicatesGaps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		hook func() func(m []byte, publish func([]byte) error) error
	}{
		{"loss of every 5th data message once", func() func([]byte, func([]byte) error) error {
			dropped := map[uint64]bool{}
			return func(m []byte, publish func([]byte) error) error {
				if s := dataSeq(m); s%5 == 0 && s > 0 && !dropped[s] {
					dropped[s] = true
					return nil
				}
				return publish(m)
			}
		}},
		{"every message twice", func() func([]byte, func([]byte) error) error {
			return func(m []byte, publish func([]byte) error) error {
				_ = publish(m)
				return publish(m)
			}
		}},
		{"pairs swapped", func() func([]byte, func([]byte) error) error {
			var held []byte
			return func(m []byte, publish func([]byte) error) error {
				if dataSeq(m) == 0 {
					return publish(m)
				}
				if held == nil {
					held = m
					return nil
				}
				err := publish(m)
				_ = publish(held)
				held = nil
				return err
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, -1)
			a, b := pair(t, s, natslink.Config{DeadInterval: testT, Window: 1 << 20})
			natslink.SetPublishHook(a, tc.hook())
			transfer(t, a, b, pattern(3<<20))
		})
	}
}

func TestWindowStalledReader(t *testing.T) {
	t.Parallel()
	s := startServer(t, -1)
	const window = 1 << 20
	a, b := pair(t, s, natslink.Config{DeadInterval: testT, Window: window})

	// Nothing reads b: the writer stops at the window.
	require.NoError(t, a.SetWriteDeadline(time.Now().Add(4*testT)))
	n, err := a.Write(make([]byte, 8<<20))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Equal(t, window, n, "the writer sent past the window")
	require.Equal(t, window, natslink.Inflight(a))
	require.LessOrEqual(t, natslink.Buffered(b), window)
	require.NoError(t, a.Err(), "a stalled reader is not a dead link: pings flowed")

	// The reader drains: acks open the window again.
	require.NoError(t, a.SetWriteDeadline(time.Time{}))
	done := make(chan error, 1)
	go func() {
		_, err := a.Write(make([]byte, 2*window))
		done <- err
	}()
	buf := make([]byte, 64<<10)
	for total := 0; total < 3*window; {
		n, err := b.Read(buf)
		require.NoError(t, err)
		total += n
		require.LessOrEqual(t, natslink.Inflight(a), window)
	}
	require.NoError(t, <-done)

	// A Write blocked on the window returns when the link is closed.
	go func() {
		_, err := a.Write(make([]byte, 2*window))
		done <- err
	}()
	for natslink.Inflight(a) < window {
		select {
		case err := <-done:
			t.Fatalf("the write returned before the window filled: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	require.NoError(t, a.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		silence func(b *natslink.Link, ncb *nats.Conn)
	}{
		{"peer's publishes stop (a hang)", func(b *natslink.Link, _ *nats.Conn) {
			natslink.SetPublishHook(b, func([]byte, func([]byte) error) error { return nil })
		}},
		{"peer's NATS connection closed without fin", func(_ *natslink.Link, ncb *nats.Conn) { ncb.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, -1)
			a, b, ncb := pairConns(t, s, natslink.Config{DeadInterval: testT})
			// A busy, then idle, link stays up for 3T.
			select {
			case <-a.Done():
				t.Fatalf("an idle link died: %v", a.Err())
			case <-time.After(3 * testT):
			}
			start := time.Now()
			tc.silence(b, ncb)
			<-a.Done()
			elapsed := time.Since(start)
			var se *natslink.SilenceError
			require.ErrorAs(t, a.Err(), &se)
			require.ErrorIs(t, a.Err(), natslink.ErrSilent)
			require.GreaterOrEqual(t, se.Silence, testT)
			require.Greater(t, elapsed, 3*testT/4)
			require.LessOrEqual(t, elapsed, 5*testT/4+slack)
			_, err := a.Read(make([]byte, 1))
			require.ErrorIs(t, err, natslink.ErrSilent)
			_, err = a.Write([]byte{1})
			require.ErrorIs(t, err, natslink.ErrSilent)
		})
	}
}

func TestBusyLinkStaysUp(t *testing.T) {
	t.Parallel()
	s := startServer(t, -1)
	a, b := pair(t, s, natslink.Config{DeadInterval: testT})
	// One way only: b sends nothing but pings and acks, a sends all the time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		p := make([]byte, 32<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := a.Write(p); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(io.Discard, b)
	}()
	select {
	case <-a.Done():
		t.Fatalf("a busy link died: %v", a.Err())
	case <-b.Done():
		t.Fatalf("a busy link died: %v", b.Err())
	case <-time.After(4 * testT):
	}
	close(stop)
	require.NoError(t, a.Close())
	wg.Wait()
	require.NoError(t, b.Close())
}

// The last message lost, and nothing follows it: the peer's ping, which
// carries the last seq it sent, reveals the gap.
func TestTailLossRecoveredByPing(t *testing.T) {
	t.Parallel()
	s := startServer(t, -1)
	a, b := pair(t, s, natslink.Config{DeadInterval: testT})
	dropped := false
	natslink.SetPublishHook(a, func(m []byte, publish func([]byte) error) error {
		if dataSeq(m) == 1 && !dropped {
			dropped = true
			return nil
		}
		return publish(m)
	})
	_, err := a.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, b.SetReadDeadline(time.Now().Add(2*testT)))
	buf := make([]byte, 1)
	n, err := b.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "x", string(buf[:n]))
}

// Across a NATS server restart on the same port, both clients reconnect,
// their handlers call Resume, and the link loses no byte.
func TestResumeAcrossServerRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t, -1)
	port := s.Addr().(*net.TCPAddr).Port
	a, b := pair(t, s, natslink.Config{DeadInterval: 3 * time.Second, Window: 1 << 20})
	want := pattern(6 << 20)
	errc := make(chan error, 1)
	half := make(chan struct{})
	go func() {
		for i, p := 0, want; len(p) > 0; i++ {
			if i == 20 {
				close(half)
			}
			n := min(len(p), 100<<10)
			if _, err := a.Write(p[:n]); err != nil {
				errc <- err
				return
			}
			p = p[n:]
		}
		errc <- nil
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 64<<10)
	restarted := false
	require.NoError(t, b.SetReadDeadline(time.Now().Add(30*time.Second)))
	for len(got) < len(want) {
		if !restarted && isClosed(half) {
			restarted = true
			s.Shutdown()
			s.WaitForShutdown()
			startServer(t, port)
		}
		n, err := b.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	require.True(t, restarted)
	require.NoError(t, <-errc)
	require.True(t, bytes.Equal(want, got), "bytes lost or reordered across the restart")
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestFin(t *testing.T) {
	t.Parallel()
	t.Run("both sides close at once", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, -1)
		a, b := pair(t, s, natslink.Config{DeadInterval: testT})
		_, err := a.Write([]byte("unread"))
		require.NoError(t, err)
		start := time.Now()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a.Close() }()
		go func() { defer wg.Done(); b.Close() }()
		wg.Wait()
		require.Less(t, time.Since(start), natslink.CloseTimeout/2, "each fin is acked: no Close waits for its timeout")
		require.ErrorIs(t, a.Err(), net.ErrClosed)
		require.ErrorIs(t, b.Err(), net.ErrClosed)
	})
	t.Run("a Close after the peer's fin waits for no ack", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, -1)
		a, b := pair(t, s, natslink.Config{DeadInterval: testT})
		// b has closed, so nobody will ack a's fin: a must not wait for it
		// once it has the peer's own fin (a simultaneous close, where each
		// side's receiver can stop before it acks the other's fin).
		natslink.SetPublishHook(b, func(m []byte, publish func([]byte) error) error {
			if len(m) > 0 && m[0] == 2 { // an ack
				return nil
			}
			return publish(m)
		})
		go func() { _ = b.Close() }()
		require.NoError(t, a.SetReadDeadline(time.Now().Add(2*time.Second)))
		_, err := io.ReadAll(a) // to the peer's fin
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, a.Close())
		require.Less(t, time.Since(start), natslink.CloseTimeout/2, "the peer's fin makes its ack needless")
	})
	t.Run("read after the peer's fin: data, then EOF; writes fail", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, -1)
		a, b := pair(t, s, natslink.Config{DeadInterval: testT})
		_, err := a.Write([]byte("last words"))
		require.NoError(t, err)
		require.NoError(t, a.Close())
		require.NoError(t, b.SetReadDeadline(time.Now().Add(2*time.Second)))
		got, err := io.ReadAll(b)
		require.NoError(t, err)
		require.Equal(t, "last words", string(got))
		_, err = b.Write([]byte("x"))
		require.ErrorIs(t, err, natslink.ErrPeerClosed)
		// The peer's fin is no silence: b stays up until closed.
		select {
		case <-b.Done():
			t.Fatalf("b ended after the peer's fin: %v", b.Err())
		case <-time.After(5 * testT / 4):
		}
	})
	t.Run("close with no peer returns within CloseTimeout", func(t *testing.T) {
		t.Parallel()
		l := alone(t)
		start := time.Now()
		require.NoError(t, l.Close())
		require.Less(t, time.Since(start), natslink.CloseTimeout+slack)
	})
	t.Run("close unblocks a blocked read", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, -1)
		a, _ := pair(t, s, natslink.Config{DeadInterval: testT})
		errc := make(chan error, 1)
		go func() { _, err := a.Read(make([]byte, 1)); errc <- err }()
		require.NoError(t, a.Close())
		require.ErrorIs(t, <-errc, net.ErrClosed)
	})
}

func TestSideMessages(t *testing.T) {
	t.Parallel()
	s := startServer(t, -1)
	logs := make(chan natslink.Log, 4)
	exits := make(chan natslink.Exit, 1)
	nca := connect(t, s.ClientURL(), nil)
	ncb := connect(t, s.ClientURL(), nil)
	up, dn := subjects()
	caller, err := natslink.New(nca, natslink.Config{Send: up, Recv: dn, DeadInterval: testT,
		OnLog:  func(l natslink.Log) { logs <- l },
		OnExit: func(e natslink.Exit) { exits <- e }})
	require.NoError(t, err)
	defer caller.Close()
	agent, err := natslink.New(ncb, natslink.Config{Send: dn, Recv: up, DeadInterval: testT})
	require.NoError(t, err)
	require.NoError(t, nca.Flush())
	_, err = agent.Write([]byte("bytes"))
	require.NoError(t, err)
	require.NoError(t, agent.SendLog(natslink.Log{FD: 2, Lines: []string{"a", "b"}}))
	require.NoError(t, agent.SendExit(natslink.Exit{Code: 3, Stderr: "panic: x"}))
	require.NoError(t, agent.Close())
	require.Equal(t, natslink.Log{FD: 2, Lines: []string{"a", "b"}}, <-logs)
	require.Equal(t, natslink.Exit{Code: 3, Stderr: "panic: x"}, <-exits)
	got, err := io.ReadAll(caller)
	require.NoError(t, err)
	require.Equal(t, "bytes", string(got))
}

func TestHostileMessages(t *testing.T) {
	t.Parallel()
	s := startServer(t, -1)
	cases := []struct {
		name string
		msg  []byte
	}{
		{"short header", []byte{0, 0, 0}},
		{"unknown type", append([]byte{9}, make([]byte, 8)...)},
		{"ack of a seq never sent", []byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7}},
		{"ping with a short body", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"oversized data chunk", append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, natslink.MaxChunk+1)...)},
		{"a log that does not decode", []byte{4, 0, 0, 0, 0, 0, 0, 0, 1, 0xc1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, _ := pair(t, s, natslink.Config{DeadInterval: testT})
			nc := connect(t, s.ClientURL(), nil)
			require.NoError(t, nc.Publish(a.LocalAddr().String(), tc.msg))
			<-a.Done()
			require.ErrorIs(t, a.Err(), natslink.ErrProtocol)
		})
	}
}
