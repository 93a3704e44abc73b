//go:build unix

package transport_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// pattern returns n bytes that depend on seed, so that a payload that
// arrives with another's bytes, or with bytes overwritten, is told apart.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i>>8)
	}
	return b
}

// echoBytes answers a Call of a []byte with the same bytes, decoded into
// a []byte as actor does; a payload of odd length goes back raw (s.Args),
// which is split for writing as a []byte is.
func echoBytes(s *transport.Stream) {
	var in []byte
	if err := s.DecodeArgs(&in); err != nil {
		_ = s.Fail(context.Background(), &transport.ErrorInfo{Message: err.Error()})
		return
	}
	if len(in)%2 == 1 {
		_ = s.Return(context.Background(), s.Args())
		return
	}
	_ = s.Return(context.Background(), in)
}

// sharesMemory reports whether inner lies inside outer.
func sharesMemory(inner, outer []byte) bool {
	if len(inner) == 0 || len(outer) == 0 {
		return false
	}
	for i := range outer {
		if &outer[i] == &inner[0] {
			return i+len(inner) <= len(outer)
		}
	}
	return false
}

func TestLargePayloadsDecodeInPlace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		size    int
		inPlace bool
	}{
		{"small, copied", 100, false},
		{"just under a slab frame, copied", 4096 - 3, false},
		{"over a slab frame, in place", 4096 + 1, true},
		{"bin32, in place", 100_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := pattern(tc.size, tc.size)
			frame, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindReturn, ID: 1, Payload: raw(t, want)})
			require.NoError(t, err)
			m, err := transport.DecodeMessage(frame[4:])
			require.NoError(t, err)

			var got []byte
			require.NoError(t, m.Decode(&got))
			require.Equal(t, want, got)
			require.Equal(t, tc.inPlace, sharesMemory(got, m.Payload), "in place")
			require.Equal(t, len(got), cap(got), "an append cannot write over the frame")

			var r msgpack.RawMessage
			require.NoError(t, m.Decode(&r))
			require.Equal(t, []byte(m.Payload), []byte(r))
			require.Equal(t, tc.inPlace, sharesMemory(r, m.Payload), "raw in place")
		})
	}

	// A large payload that is not a bin decodes into []byte as msgpack
	// does (a string), or fails as it does.
	str := string(pattern(1, 10_000))
	m := &transport.Message{Kind: transport.KindYield, Payload: raw(t, str)}
	var got []byte
	require.NoError(t, m.Decode(&got))
	require.Equal(t, str, string(got))
	m = &transport.Message{Kind: transport.KindYield, Payload: raw(t, make([]int, 5000))}
	require.Error(t, m.Decode(&got))
}

// TestRetainedPayloadsStayValid keeps every item of a stream of payloads
// of sizes around the slab's bounds, decoded in place or copied, and
// checks them all at the end: no buffer a value points into was reused
// for a later frame.
func TestRetainedPayloadsStayValid(t *testing.T) {
	t.Parallel()
	sizes := []int{1, 100, 4000, 4093, 4094, 4095, 4096, 4097, 5000, 16 << 10, 64<<10 - 1, 64 << 10, 70_000, 1<<20 + 5}
	const rounds = 6
	a, b := connPair(t, nil, nil)
	defer serve(b, func(s *transport.Stream) {
		for r := range rounds {
			for i, n := range sizes {
				if err := s.Yield(context.Background(), pattern(r*len(sizes)+i, n)); err != nil {
					return
				}
			}
		}
		_ = s.Return(context.Background(), nil)
	})()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := a.Call(ctx, "sizes", nil)
	require.NoError(t, err)
	var kept [][]byte
	var raws []msgpack.RawMessage
	for {
		m, err := s.Recv(ctx)
		require.NoError(t, err)
		if m.Kind != transport.KindYield {
			break
		}
		var p []byte
		require.NoError(t, m.Decode(&p))
		kept = append(kept, p)
		raws = append(raws, m.Payload)
	}
	require.Len(t, kept, rounds*len(sizes))
	for k, p := range kept {
		want := pattern(k, sizes[k%len(sizes)])
		require.Equal(t, want, p, "item %d", k)
		require.Equal(t, []byte(raw(t, want)), []byte(raws[k]), "payload %d", k)
	}
}

// TestLargeCallsSendWhatTheCallerHadWhenCallReturned reuses each Call's
// buffer as soon as Call returns, from concurrent callers, so that some
// payloads go out with their caller's own write (lent) and some with
// another's (copied): each echo must be what was sent, and decoded
// results must stay valid once kept.
func TestLargeCallsSendWhatTheCallerHadWhenCallReturned(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, echoBytes)()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sizes := []int{20 << 10, 64 << 10, 300 << 10, 1<<20 + 3}
	const callers, calls = 6, 12
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20+3)
			var kept [][]byte
			for i := range calls {
				n := sizes[(g+i)%len(sizes)]
				want := pattern(g*calls+i, n)
				copy(buf, want)
				s, err := a.Call(ctx, "echo", buf[:n:n]) // a cap a write chunk could have
				if err != nil {
					errs <- err
					return
				}
				for j := range buf[:n] { // the caller's buffer is its own again
					buf[j] = 0xee
				}
				m, err := s.Recv(ctx)
				if err != nil {
					errs <- err
					return
				}
				var out []byte
				if err := m.Decode(&out); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(want, out) {
					errs <- fmt.Errorf("caller %d call %d (%d bytes): the echo differs from what was sent", g, i, n)
					return
				}
				kept = append(kept, out)
			}
			for i, out := range kept {
				if !bytes.Equal(pattern(g*calls+i, len(out)), out) {
					errs <- fmt.Errorf("caller %d: result %d changed after it was decoded", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestLentPayloadIsCopiedWhenTheWriteIsInterrupted: a Call whose payload
// goes out from the caller's memory returns when its ctx ends mid-write,
// leaving the rest to the write loop; the caller may then reuse its
// buffer, and the peer must still get the bytes the call had. Payloads
// queued behind the blocked write (copied) too.
func TestLentPayloadIsCopiedWhenTheWriteIsInterrupted(t *testing.T) {
	t.Parallel()
	c, peer := established(t)
	// A guard against a hang only: each read below waits for a write that
	// must be under way.
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(time.Minute)))
	big := pattern(1, 8<<20) // far more than the socket buffers hold
	want := bytes.Clone(big)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "big", big) // blocks writing until ctx ends
		returned <- err
	}()
	// ctx ends once the write is under way (the peer has the frame's
	// header, and reads no more for now), not after a delay: a ctx that
	// ends before the Call is queued fails the Call, and tests nothing.
	var hdr [4]byte
	_, err := io.ReadFull(peer, hdr[:])
	require.NoError(t, err, "the big Call's write did not start")
	n := binary.BigEndian.Uint32(hdr[:])
	require.Greater(t, n, uint32(8<<20), "the first frame is the big Call")
	cancel()
	select {
	case err := <-returned:
		require.NoError(t, err, "the frame was queued; it goes out when the peer reads")
	case <-time.After(10 * time.Second):
		t.Fatal("the Call was not interrupted within 10 s of its ctx's end")
	}
	for i := range big {
		big[i] = 0xee
	}
	// Queued behind the rest, which the write loop now writes: it is
	// copied, or waits for room until the peer reads. Or, if the write
	// loop is done by the time it is queued, it writes itself, from
	// where it is, and returns once written (its ctx never ends): the
	// peer reads it without waiting for the Call to return first.
	behind := pattern(2, 100<<10)
	wantBehind := bytes.Clone(behind)
	sent := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), "behind", behind)
		for i := range behind {
			behind[i] = 0xee
		}
		sent <- err
	}()

	bigBody := make([]byte, n)
	_, err = io.ReadFull(peer, bigBody)
	require.NoError(t, err)
	behindBody, err := transport.ReadFrame(peer, 16<<20)
	require.NoError(t, err)
	select {
	case err := <-sent:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the behind Call did not return within 10 s of its frame's read")
	}
	for _, w := range []struct {
		fn   string
		body []byte
		want []byte
	}{{"big", bigBody, want}, {"behind", behindBody, wantBehind}} {
		m, err := transport.DecodeMessage(w.body)
		require.NoError(t, err)
		require.Equal(t, w.fn, m.Func)
		var got []byte
		require.NoError(t, m.Decode(&got))
		require.True(t, bytes.Equal(w.want, got), "%s arrived as it was when Call returned", w.fn)
		// The frame written in two parts is the frame encoded whole.
		whole, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindCall, ID: m.ID, Func: w.fn, Payload: raw(t, w.want)})
		require.NoError(t, err)
		require.True(t, bytes.Equal(whole[4:], w.body), "%s's frame", w.fn)
	}
	require.NoError(t, c.Err())
}

func TestReadFrameGrowsWithTheBytesThatArrive(t *testing.T) { // not parallel: it counts allocations
	// A large frame arriving in small reads is read whole.
	body := pattern(3, 3<<20+17)
	frame := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	got, err := transport.ReadFrame(iotest.HalfReader(bytes.NewReader(frame)), transport.DefaultMaxFrame)
	require.NoError(t, err)
	require.True(t, bytes.Equal(body, got))

	// A 1 MiB payload's frame is read into one buffer sized to it.
	oneMiB, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindReturn, ID: 1, Payload: raw(t, make([]byte, 1<<20))})
	require.NoError(t, err)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err = transport.ReadFrame(bytes.NewReader(oneMiB), transport.DefaultMaxFrame)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Len(t, got, len(oneMiB)-4)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20+64<<10), "one buffer, no step-and-copy")

	// A header that announces 60 MiB, then a few bytes and the end: what
	// it costs is bounded by what arrived, not by what was announced.
	stalled := append(binary.BigEndian.AppendUint32(nil, 60<<20), make([]byte, 10)...)
	runtime.ReadMemStats(&before)
	_, err = transport.ReadFrame(bytes.NewReader(stalled), transport.DefaultMaxFrame)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(3<<20), "at most a growth step ahead of the bytes")
}

// TestDecodeIntoANilPointerFails decodes payloads, large enough to be
// decoded in place, into nil pointers of the types decoded in place: an
// error, as for a small payload, never a panic.
func TestDecodeIntoANilPointerFails(t *testing.T) {
	t.Parallel()
	for _, size := range []int{16, 8 << 10} {
		p, err := msgpack.Marshal(make([]byte, size))
		require.NoError(t, err)
		m := &transport.Message{Kind: transport.KindYield, Payload: p}
		for _, v := range []any{(*[]byte)(nil), (*msgpack.RawMessage)(nil)} {
			require.NotPanics(t, func() {
				require.Error(t, m.Decode(v), "%d bytes into %T", size, v)
			})
		}
	}
}
