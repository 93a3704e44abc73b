package transport_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

func TestErrorInfoExitContextAndGroupRoundTrip(t *testing.T) {
	t.Parallel()
	a := transport.ActorID{Name: "a", ID: "1", PID: 10}
	b := transport.ActorID{Name: "b", ID: "2", PID: 11}
	want := &transport.Message{Kind: transport.KindError, ID: 2, Err: &transport.ErrorInfo{
		Type: "*nursery.group", Message: "two failures", Source: b,
		Group: []*transport.ErrorInfo{
			{Type: "*actor.ExitError", Message: "process exited with code 3", Source: a,
				Via: []transport.ActorID{b}, Context: []string{"spawn a"},
				Exit: &transport.ExitInfo{Code: 3, Stderr: "fatal error: x\n"}},
			{Type: "panic", Message: "boom", Stack: "goroutine 1 [running]:\n", Source: b, Is: []string{"io.EOF"}},
			{Type: "*actor.ExitError", Message: "process killed by signal SIGKILL (9) on host h2", Source: a,
				Exit: &transport.ExitInfo{Code: -1, Signal: 9, Host: "h2"}},
		},
	}}
	frame, err := transport.AppendFrame(nil, want)
	require.NoError(t, err)
	body, err := transport.ReadFrame(bytes.NewReader(frame), transport.DefaultMaxFrame)
	require.NoError(t, err)
	got, err := transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestErrorInfoGroupBounds(t *testing.T) {
	t.Parallel()
	member := map[string]any{"type": "t", "message": "m"}
	tooMany := make([]any, transport.MaxErrorGroup+1)
	for i := range tooMany {
		tooMany[i] = member
	}
	cases := []struct {
		name string
		err  map[string]any
		want string
	}{
		{"more members than MaxErrorGroup", map[string]any{"type": "g", "group": tooMany}, "more than 256 members"},
		{"a member with a group", map[string]any{"type": "g", "group": []any{
			map[string]any{"type": "m", "group": []any{member}},
		}}, "group of its own"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := msgpack.Marshal([]any{7, 2, tc.err})
			require.NoError(t, err)
			_, err = transport.DecodeMessage(body)
			require.ErrorIs(t, err, transport.ErrProtocol)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// A sender is refused locally, before anything is sent.
	big := &transport.ErrorInfo{Type: "g"}
	for range transport.MaxErrorGroup + 1 {
		big.Group = append(big.Group, &transport.ErrorInfo{Type: "t"})
	}
	_, err := transport.AppendFrame(nil, &transport.Message{Kind: transport.KindError, ID: 2, Err: big})
	require.ErrorContains(t, err, "MaxErrorGroup")
	nested := &transport.ErrorInfo{Type: "g", Group: []*transport.ErrorInfo{{Type: "m", Group: []*transport.ErrorInfo{{Type: "t"}}}}}
	_, err = transport.AppendFrame(nil, &transport.Message{Kind: transport.KindError, ID: 2, Err: nested})
	require.ErrorContains(t, err, "flatten")
}

func TestErrorInfoNilExitIsNone(t *testing.T) {
	t.Parallel()
	body, err := msgpack.Marshal([]any{7, 2, map[string]any{"type": "t", "exit": nil}})
	require.NoError(t, err)
	m, err := transport.DecodeMessage(body)
	require.NoError(t, err)
	require.Nil(t, m.Err.Exit)
}
