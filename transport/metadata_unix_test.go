//go:build unix

package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// TestCallCarriesMetadata sends the metadata of the caller's ctx with a
// Call, small and large payloads alike, and the callee reads it from
// Stream.Metadata; a Call made without any has none.
func TestCallCarriesMetadata(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, func(s *transport.Stream) {
		_ = s.Return(context.Background(), map[string]string(s.Metadata()))
	})()
	md := transport.Metadata{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "baggage": "k=v"}
	ctx := transport.ContextWithMetadata(context.Background(), md)
	require.Equal(t, md, transport.MetadataFromContext(ctx))
	for _, c := range []struct {
		name string
		ctx  context.Context
		args any
		want map[string]string
	}{
		{"small", ctx, 1, md},
		{"large", ctx, bytes.Repeat([]byte{7}, 64<<10), md}, // past the split of large payloads
		{"none", context.Background(), 1, nil},
	} {
		s, err := a.Call(c.ctx, "md", c.args)
		require.NoError(t, err, c.name)
		m, err := s.Recv(context.Background())
		require.NoError(t, err, c.name)
		var got map[string]string
		require.NoError(t, m.Decode(&got), c.name)
		require.Equal(t, c.want, got, c.name)
		require.NoError(t, s.Close())
	}
	require.Nil(t, transport.MetadataFromContext(context.Background()))
}

// TestMetadataOverTheBoundsIsRefused refuses, locally and with the fix,
// a Call whose metadata is over the bounds; the connection carries on.
func TestMetadataOverTheBoundsIsRefused(t *testing.T) {
	t.Parallel()
	a, b := connPair(t, nil, nil)
	defer serve(b, echo)()
	many := transport.Metadata{}
	for i := range transport.MaxMetadataEntries + 1 {
		many[fmt.Sprint(i)] = "v"
	}
	for md, want := range map[*transport.Metadata]string{
		&many: "more than MaxMetadataEntries (64): send fewer",
		{"k": strings.Repeat("v", transport.MaxMetadataBytes)}: "more than MaxMetadataBytes (8192): send less",
	} {
		_, err := a.Call(transport.ContextWithMetadata(context.Background(), *md), "echo", point{})
		require.ErrorContains(t, err, want)
	}
	s, err := a.Call(context.Background(), "echo", point{1, 2, "p"})
	require.NoError(t, err)
	m, err := s.Recv(context.Background())
	require.NoError(t, err)
	require.Equal(t, transport.KindReturn, m.Kind)
	require.NoError(t, s.Close())
}
