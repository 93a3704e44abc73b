package otelgrove_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
)

// TestLargeBaggageDoesNotFailTheCall calls with as much W3C baggage as
// its propagator carries (8192 bytes): with the trace context beside it,
// it is over transport.MaxMetadataBytes, and a trace must never fail the
// call it observes. The baggage is left off; the trace still nests.
func TestLargeBaggageDoesNotFailTheCall(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var members []baggage.Member
	for _, k := range []string{"a", "b"} {
		m, err := baggage.NewMember(k, strings.Repeat("v", 4090))
		require.NoError(t, err)
		members = append(members, m)
	}
	bag, err := baggage.New(members...)
	require.NoError(t, err)
	require.Greater(t, len(bag.String()), 8150)
	spans, err := tree(t, func(ctx context.Context, mid *actor.Ref) error {
		ctx = baggage.ContextWithBaggage(ctx, bag)
		got, err := Relay.Call(ctx, mid, false)
		require.Equal(t, "relay>leaf", got)
		return err
	})
	require.NoError(t, err)
	chain(t, spans)
}
