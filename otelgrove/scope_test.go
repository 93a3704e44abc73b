package otelgrove_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/otelgrove"
	"github.com/grove-rt/grove/pool"
	"github.com/grove-rt/grove/supervise"
)

// TestScopeUnitsAndCardinality checks what otel-go's conventions ask of
// an instrumentation: its spans and metrics under the scope ScopeName
// with a version; call durations in seconds with buckets for seconds
// (the SDK's default buckets are for milliseconds: every call would fall
// in the first); and metric attributes of bounded cardinality only,
// never an actor's id or pid, which would make a series per actor.
func TestScopeUnitsAndCardinality(t *testing.T) {
	proctest.NoChildrenLeft(t)
	require.NotEmpty(t, otelgrove.Version())
	_, err := tree(t, func(ctx context.Context, mid *actor.Ref) error {
		_, err := Relay.Call(ctx, mid, true) // a failure: error.type on the metrics
		require.Error(t, err)
		_, err = Relay.Call(ctx, mid, false)
		return err
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := pool.New(ctx, pool.WithWorkers(1))
	require.NoError(t, err)
	for _, err := range pool.Map(ctx, p, Square, slices.Values([]int{1, 2})) {
		require.NoError(t, err)
	}
	require.NoError(t, p.Shutdown(ctx))
	// A child's name may be an id (one per session, started with
	// StartChild): a restart must not make a series of it.
	var runs atomic.Int32
	require.NoError(t, supervise.Run(ctx, supervise.Spec{Intensity: 1, Period: time.Minute, Children: []supervise.Child{{
		Name: fmt.Sprintf("session-%d", time.Now().UnixNano()), Restart: supervise.Transient,
		Run: func(ctx context.Context) error {
			if runs.Add(1) == 1 {
				return errors.New("first run fails")
			}
			return nil
		},
	}}}))

	for _, s := range recorder.Ended() {
		if s.InstrumentationScope().Name == otelgrove.ScopeName {
			require.Equal(t, otelgrove.Version(), s.InstrumentationScope().Version, s.Name())
		}
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	bounded := map[attribute.Key]bool{"rpc.system": true, "rpc.method": true, "error.type": true,
		otelgrove.SideKey: true, otelgrove.BackendKey: true}
	seen, names := 0, []string(nil)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelgrove.ScopeName {
			continue
		}
		require.Equal(t, otelgrove.Version(), sm.Scope.Version)
		for _, m := range sm.Metrics {
			seen++
			names = append(names, m.Name)
			for _, set := range attributeSets(t, m.Data) {
				for _, kv := range set.ToSlice() {
					require.True(t, bounded[kv.Key], "metric %s has the attribute %s=%s, of unbounded cardinality", m.Name, kv.Key, kv.Value.String())
				}
			}
			if m.Name != "grove.call.duration" {
				continue
			}
			require.Equal(t, "s", m.Unit)
			hist := m.Data.(metricdata.Histogram[float64])
			require.NotEmpty(t, hist.DataPoints)
			for _, dp := range hist.DataPoints {
				subSecond := 0
				for _, b := range dp.Bounds {
					if b > 0 && b < 1 {
						subSecond++
					}
				}
				require.GreaterOrEqual(t, subSecond, 5, "buckets must tell a fast call from a slow one: %v", dp.Bounds)
				require.GreaterOrEqual(t, dp.Bounds[len(dp.Bounds)-1], 10.0, "%v", dp.Bounds)
			}
		}
	}
	require.Positive(t, seen)
	require.Contains(t, names, "grove.supervise.restarts")
}

// attributeSets are the attribute sets of a metric's data points.
func attributeSets(t *testing.T, data metricdata.Aggregation) []attribute.Set {
	t.Helper()
	var sets []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	default:
		t.Fatalf("a metric of %T", data)
	}
	return sets
}
