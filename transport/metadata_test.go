package transport_test

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// TestMetadataBytes checks PROTOCOL.md's example of a Call with metadata
// (section 12.1), and that a Call without metadata keeps its four
// elements, as a peer that predates metadata sends it.
func TestMetadataBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		md   transport.Metadata
		want string
	}{
		{"with", transport.Metadata{"k": "v"}, "00 00 00 10 95 02 01 a4 65 63 68 6f a2 68 69 81 a1 6b a1 76"},
		{"none", nil, "00 00 00 0b 94 02 01 a4 65 63 68 6f a2 68 69"},
		{"empty", transport.Metadata{}, "00 00 00 0b 94 02 01 a4 65 63 68 6f a2 68 69"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			frame, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindCall, ID: 1, Func: "echo",
				Payload: raw(t, "hi"), Metadata: c.md})
			require.NoError(t, err)
			want, err := hex.DecodeString(strings.ReplaceAll(c.want, " ", ""))
			require.NoError(t, err)
			require.Equal(t, want, frame)
			m, err := transport.DecodeMessage(frame[4:])
			require.NoError(t, err)
			if len(c.md) == 0 {
				require.Nil(t, m.Metadata)
			} else {
				require.Equal(t, c.md, m.Metadata)
			}
		})
	}
}

// TestHostileMetadata feeds Call envelopes whose metadata is not a map of
// strings, or too large: each is a protocol violation with a clear error,
// and a trailing element after the metadata is still ignored.
func TestHostileMetadata(t *testing.T) {
	t.Parallel()
	many := map[string]string{}
	for i := range transport.MaxMetadataEntries + 1 {
		many[fmt.Sprint(i)] = ""
	}
	cases := []struct {
		name string
		md   any
		want string // "" for accepted
	}{
		{"a map of strings", map[string]string{"a": "b"}, ""},
		{"empty", map[string]string{}, ""},
		{"nil", nil, "metadata: nil, need a map"},
		{"an array", []string{"a"}, "metadata"},
		{"an int key", map[int]string{1: "a"}, "metadata key: msgpack code 0x01, need a str"},
		{"an int value", map[string]int{"a": 1}, "metadata value of a: msgpack code 0x01, need a str"},
		{"a bin value", map[string][]byte{"a": {1}}, "metadata value of a: msgpack code 0xc4, need a str"},
		{"a nil value", map[string]any{"a": nil}, "metadata value of a: msgpack code 0xc0, need a str"},
		{"too many entries", many, "metadata of 65 entries, more than 64"},
		{"too many bytes", map[string]string{"a": strings.Repeat("x", transport.MaxMetadataBytes)}, "metadata of more than 8192 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			body, err := msgpack.Marshal([]any{2, 1, "f", nil, c.md, "a later field"})
			require.NoError(t, err)
			m, err := transport.DecodeMessage(body)
			if c.want == "" {
				require.NoError(t, err)
				require.Equal(t, "f", m.Func)
				return
			}
			require.ErrorIs(t, err, transport.ErrProtocol)
			require.ErrorContains(t, err, c.want)
		})
	}
	// A repeated key, which msgpack's encoder of Go maps cannot write.
	body := []byte{0x95, 0x02, 0x01, 0xa1, 'f', 0xc0, 0x82, 0xa1, 'k', 0xa1, 'v', 0xa1, 'k', 0xa1, 'w'}
	_, err := transport.DecodeMessage(body)
	require.ErrorIs(t, err, transport.ErrProtocol)
	require.ErrorContains(t, err, `metadata key "k" repeated`)
}
