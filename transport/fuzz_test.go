package transport_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// FuzzReadFrame feeds arbitrary bytes to the frame reader: it must never
// panic, never return a body over the limit, and return exactly the body
// the header announced.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0x92, 0xc0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{0, 0, 1, 0, 1, 2, 3})
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := transport.ReadFrame(bytes.NewReader(data), limit)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(body), limit)
		require.Equal(t, int(binary.BigEndian.Uint32(data)), len(body))
		require.Equal(t, data[4:4+len(body)], body)
	})
}

// FuzzDecodeMessage feeds arbitrary frame bodies to the envelope decoder:
// it must never panic or recurse without bound; what it accepts must
// survive a round trip through the encoder; and a payload it accepts must
// decode into an interface value without crashing.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range []transport.Message{
		{Kind: transport.KindCall, ID: 1, Func: "f", Payload: []byte{0x93, 1, 2, 3}},
		{Kind: transport.KindCall, ID: 3, Func: "f", Payload: []byte{0xc0}, Metadata: transport.Metadata{"traceparent": "00-01-02-01"}},
		{Kind: transport.KindYield, ID: 2, Payload: []byte{0xa2, 'h', 'i'}},
		{Kind: transport.KindCredit, ID: 3, Credit: 9},
		{Kind: transport.KindError, ID: 5, Err: &transport.ErrorInfo{Type: "T", Message: "m", Is: []string{"io.EOF"},
			Via: []transport.ActorID{{Name: "a"}}}},
		{Kind: transport.KindHello, Hello: &transport.Hello{Version: 1, Window: 4, MaxFrame: 1024}},
		{Kind: transport.KindHello, Hello: &transport.Hello{Version: 1, Window: 4, MaxFrame: 1024, Batch: 64}},
		{Kind: transport.KindBatch, ID: 2, Payload: []byte{0x92, 0xa2, 'h', 'i', 0x07}},
		{Kind: transport.KindBatch, ID: 4, Payload: []byte{0xdd, 0, 0, 0, 1, 0xc0}},
	} {
		frame, err := transport.AppendFrame(nil, &m)
		require.NoError(f, err)
		f.Add(frame[4:])
	}
	f.Add([]byte{0x92, 0x05, 0xc1})
	f.Add([]byte{0x93, 0x0a, 0x01, 0x90})                         // a Batch of no items
	f.Add([]byte{0x93, 0x0a, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}) // a count the frame does not hold
	f.Add([]byte{0x93, 0x0a, 0x01, 0xdc, 0x00, 0x01, 0xc0})       // array16 of one item
	big, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindReturn, ID: 7, Payload: raw(f, make([]byte, 5000))})
	require.NoError(f, err)
	f.Add(big[4:])
	f.Add(append([]byte{0x93, 0x04, 0x01}, bytes.Repeat([]byte{0x91}, 300)...))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := transport.DecodeMessage(body)
		if err != nil {
			require.ErrorIs(t, err, transport.ErrProtocol)
			return
		}
		frame, err := transport.AppendFrame(nil, m)
		require.NoError(t, err)
		again, err := transport.DecodeMessage(frame[4:])
		require.NoError(t, err)
		require.Equal(t, m, again)
		if len(m.Payload) > 0 {
			var v any
			_ = m.Decode(&v)
			// []byte and RawMessage decode in place when large: the same
			// bytes as msgpack's own copy.
			var b, want []byte
			if m.Decode(&b) == nil && msgpack.Unmarshal(m.Payload, &want) == nil {
				require.Equal(t, want, b)
			}
			var r, wantRaw msgpack.RawMessage
			if m.Decode(&r) == nil && msgpack.Unmarshal(m.Payload, &wantRaw) == nil {
				require.Equal(t, wantRaw, r)
			}
		}
	})
}
