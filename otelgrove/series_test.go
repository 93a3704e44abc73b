package otelgrove_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/otelgrove"
)

// Flaky fails when asked to. Only TestSeriesKeptPerFunction calls it, so
// that its series are that test's alone.
var Flaky = actor.Func("otelgrove_test.Flaky", func(ctx context.Context, fail bool) (bool, error) {
	if fail {
		return false, &leafError{"asked to"}
	}
	return true, nil
})

// TestSeriesKeptPerFunction checks that the call metrics' options
// otelgrove keeps once per function and side (built at its first call
// that succeeds) leave a failure its own series: a call that fails after
// one that succeeded, and one that succeeds after it, each count in the
// series they belong to.
func TestSeriesKeptPerFunction(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "flaky")
		if err != nil {
			return err
		}
		defer ref.Cancel()
		for _, fail := range []bool{false, true, false, true, false} {
			_, err := Flaky.Call(ctx, ref, fail)
			require.Equal(t, fail, err != nil, "%v", err)
		}
		return nil
	}))

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{} // error.type ("" for none) → calls
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sm.Scope.Name != otelgrove.ScopeName || m.Name != "grove.calls" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				method, _ := dp.Attributes.Value("rpc.method")
				side, _ := dp.Attributes.Value(otelgrove.SideKey)
				if method.AsString() != Flaky.Name() || side.AsString() != "client" {
					continue
				}
				errType, _ := dp.Attributes.Value("error.type")
				got[errType.AsString()] += dp.Value
			}
		}
	}
	require.Equal(t, map[string]int64{"": 3, "*otelgrove_test.leafError": 2}, got)
}
