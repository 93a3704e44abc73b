package transport_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

func raw(t testing.TB, v any) msgpack.RawMessage {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestRoundTripEveryKind(t *testing.T) {
	t.Parallel()
	actor := transport.ActorID{Name: "worker", ID: "0f3c", PID: 4242}
	cases := []transport.Message{
		{Kind: transport.KindHello, Hello: &transport.Hello{Version: 1, Actor: actor, Role: "child",
			Initiator: true, Window: 64, MaxFrame: 1 << 20}},
		{Kind: transport.KindCall, ID: 1, Func: "pkg.Square", Payload: raw(t, map[string]int{"x": 3})},
		{Kind: transport.KindStarted, ID: 3, Payload: raw(t, "ready")},
		{Kind: transport.KindYield, ID: 5, Payload: raw(t, []int{1, 2, 3})},
		{Kind: transport.KindStop, ID: 7},
		{Kind: transport.KindReturn, ID: 9, Payload: raw(t, 9.5)},
		{Kind: transport.KindError, ID: 11, Err: &transport.ErrorInfo{Type: "*fs.PathError",
			Message: "open x: no such file", Stack: "goroutine 1 [running]:\nmain.main()",
			Source: actor, Via: []transport.ActorID{{Name: "mid", ID: "aa", PID: 7}}, Is: []string{"fs.ErrNotExist"}}},
		{Kind: transport.KindCancel, ID: 13},
		{Kind: transport.KindCredit, ID: 15, Credit: 32},
	}
	for _, want := range cases {
		t.Run(want.Kind.String(), func(t *testing.T) {
			t.Parallel()
			frame, err := transport.AppendFrame(nil, &want)
			require.NoError(t, err)
			body, err := transport.ReadFrame(bytes.NewReader(frame), transport.DefaultMaxFrame)
			require.NoError(t, err)
			got, err := transport.DecodeMessage(body)
			require.NoError(t, err)
			require.Equal(t, &want, got)
		})
	}
}

func TestUnknownFieldsAreIgnored(t *testing.T) {
	t.Parallel()
	// A later minor revision may append fields to an envelope and keys to
	// a map: [4, 5, payload, "extra"].
	body, err := msgpack.Marshal([]any{4, 5, "item", "extra field"})
	require.NoError(t, err)
	m, err := transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Equal(t, transport.KindYield, m.Kind)
	var item string
	require.NoError(t, m.Decode(&item))
	require.Equal(t, "item", item)

	body, err = msgpack.Marshal([]any{1, 0, map[string]any{"version": 1, "window": 8, "max_frame": 4096, "future": []int{1}}})
	require.NoError(t, err)
	m, err = transport.DecodeMessage(body)
	require.NoError(t, err)
	require.EqualValues(t, 8, m.Hello.Window)
}

func TestFrameLimit(t *testing.T) { // not parallel: it counts allocations
	const limit = 4096
	frame := func(n int) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(n))
		return append(b, bytes.Repeat([]byte{0xc0}, n)...)
	}
	body, err := transport.ReadFrame(bytes.NewReader(frame(limit)), limit)
	require.NoError(t, err, "a frame exactly at the limit is read")
	require.Len(t, body, limit)

	_, err = transport.ReadFrame(bytes.NewReader(frame(limit+1)), limit)
	require.ErrorIs(t, err, transport.ErrFrameTooLarge, "one byte over is refused")

	// A header that announces 4 GiB is refused before any body is
	// allocated: a few small values (the error) are all it costs.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_, err = transport.ReadFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), limit)
		require.ErrorIs(t, err, transport.ErrFrameTooLarge)
	}
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10))
}

func TestReadFrameErrors(t *testing.T) {
	t.Parallel()
	_, err := transport.ReadFrame(bytes.NewReader(nil), 1024)
	require.ErrorIs(t, err, io.EOF, "a clean end before a frame")
	_, err = transport.ReadFrame(bytes.NewReader([]byte{0, 0}), 1024)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a cut header")
	_, err = transport.ReadFrame(bytes.NewReader([]byte{0, 0, 0, 10, 1, 2}), 1024)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a cut body")
	require.ErrorContains(t, err, "2 of 10 bytes")
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	deep := append(bytes.Repeat([]byte{0x91}, transport.MaxDepth+1), 0xc0) // [[[...nil...]]]
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"empty", nil, "value runs past the end"},
		{"not an array", raw(t, "hello"), "not an array"},
		{"too few fields", raw(t, []int{4}), "need at least kind and id"},
		{"unknown kind", raw(t, []int{99, 1}), "unknown kind 99"},
		{"kind zero", raw(t, []int{0, 1}), "unknown kind 0"},
		{"Call without payload", raw(t, []any{2, 1, "f"}), "need 4"},
		{"trailing bytes", append(raw(t, []int{5, 1}), 0xc0), "bytes after the envelope"},
		{"truncated string", []byte{0x93, 0x04, 0x01, 0xd9, 0x10, 'a'}, "runs past the end"},
		{"reserved code", []byte{0x92, 0x05, 0xc1}, "invalid msgpack code 0xc1"},
		{"nested too deep", append([]byte{0x93, 0x04, 0x01}, deep...), "nested deeper than"},
		{"array claims more than the frame", []byte{0x93, 0x04, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}, "runs past the end"},
		{"kind of the wrong type", raw(t, []any{"Yield", 1}), "kind"},
		{"zero credit", raw(t, []int{9, 1, 0}), "credit 0 out of range"},
		{"hello of the wrong type", raw(t, []any{1, 0, "hi"}), "Hello"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := transport.DecodeMessage(tc.body)
			require.ErrorIs(t, err, transport.ErrProtocol)
			require.ErrorContains(t, err, tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "transport: "), err.Error())
		})
	}
}

// TestProtocolHelloExample encodes PROTOCOL.md section 12.3's Hello: the
// bytes must be the example's, byte for byte, and without batches the
// first eight keys only (body length 78).
func TestProtocolHelloExample(t *testing.T) {
	t.Parallel()
	want, err := hex.DecodeString("0000005793010089a776657273696f6e01a46e616d65a161a26964a178a37069642aa4726f6c65a6706172656e74a9696e69746961746f72c3a677696e646f77cd0100a96d61785f6672616d65ce04000000a56261746368cd0400")
	require.NoError(t, err)
	h := &transport.Hello{Version: 1, Actor: transport.ActorID{Name: "a", ID: "x", PID: 42}, Role: "parent",
		Initiator: true, Window: 256, MaxFrame: 64 << 20, Batch: 1024}
	got, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindHello, Hello: h})
	require.NoError(t, err)
	require.Equal(t, want, got)
	h.Batch = 0
	got, err = transport.AppendFrame(nil, &transport.Message{Kind: transport.KindHello, Hello: h})
	require.NoError(t, err)
	require.Equal(t, []byte{0, 0, 0, 78}, got[:4])
	require.Equal(t, byte(0x88), got[7])
	m, err := transport.DecodeMessage(want[4:])
	require.NoError(t, err)
	require.Equal(t, uint32(1024), m.Hello.Batch)
}
