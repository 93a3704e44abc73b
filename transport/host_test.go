package transport_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

func TestActorHostRoundTrip(t *testing.T) {
	t.Parallel()
	onB := transport.ActorID{Name: "worker", ID: "0f3c", PID: 4242, Host: "b"}
	local := transport.ActorID{Name: "mid", ID: "aa", PID: 7}
	cases := []struct {
		name string
		msg  transport.Message
	}{
		{"hello with host", transport.Message{Kind: transport.KindHello, Hello: &transport.Hello{Version: 1,
			Actor: onB, Role: "child", Window: 64, MaxFrame: 1 << 20}}},
		{"hello without host", transport.Message{Kind: transport.KindHello, Hello: &transport.Hello{Version: 1,
			Actor: local, Role: "child", Window: 64, MaxFrame: 1 << 20}}},
		{"error with hosts", transport.Message{Kind: transport.KindError, ID: 3, Err: &transport.ErrorInfo{
			Type: "panic", Message: "boom", Source: onB, Via: []transport.ActorID{onB, local}}}},
		{"error without host", transport.Message{Kind: transport.KindError, ID: 3, Err: &transport.ErrorInfo{
			Type: "panic", Message: "boom", Source: local, Via: []transport.ActorID{local}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			frame, err := transport.AppendFrame(nil, &tc.msg)
			require.NoError(t, err)
			body, err := transport.ReadFrame(bytes.NewReader(frame), transport.DefaultMaxFrame)
			require.NoError(t, err)
			got, err := transport.DecodeMessage(body)
			require.NoError(t, err)
			require.Equal(t, &tc.msg, got)
			// The key is sent only when there is a host, so a peer of
			// before it sees the very bytes it always did.
			require.Equal(t, tc.msg.Hello != nil && tc.msg.Hello.Actor.Host != "" ||
				tc.msg.Err != nil && tc.msg.Err.Source.Host != "", bytes.Contains(body, []byte("\xa4host")))
		})
	}
}

func TestActorMapWithoutHostDecodes(t *testing.T) {
	t.Parallel()
	// A peer that knows nothing of hosts: no "host" key anywhere.
	old := map[string]any{"name": "a", "id": "x", "pid": 42}
	body, err := msgpack.Marshal([]any{7, 2, map[string]any{"type": "t", "message": "m", "source": old, "via": []any{old}}})
	require.NoError(t, err)
	m, err := transport.DecodeMessage(body)
	require.NoError(t, err)
	want := transport.ActorID{Name: "a", ID: "x", PID: 42}
	require.Equal(t, want, m.Err.Source)
	require.Equal(t, []transport.ActorID{want}, m.Err.Via)

	body, err = msgpack.Marshal([]any{1, 0, map[string]any{"version": 1, "name": "a", "id": "x", "pid": 42,
		"window": 8, "max_frame": 4096}})
	require.NoError(t, err)
	m, err = transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Equal(t, want, m.Hello.Actor)
}

func TestActorIDString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "w[1]@7", transport.ActorID{Name: "w", ID: "1", PID: 7}.String())
	require.Equal(t, "w[1]@7 on host b", transport.ActorID{Name: "w", ID: "1", PID: 7, Host: "b"}.String())
}
