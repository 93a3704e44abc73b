package otelgrove_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/pool"
)

// Block waits for its ctx.
var Block = actor.Func("otelgrove_test.Block", func(ctx context.Context, _ int) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
})

// CrashOn ends its worker's process on 2, and squares the rest.
var CrashOn = actor.Func("otelgrove_test.CrashOn", func(ctx context.Context, x int) (int, error) {
	if x == 2 {
		os.Exit(3)
	}
	return x * x, nil
})

// TestEverySpanEnds takes the calls and spawns down the paths where a
// span could be left open, and finds every span this process started
// ended, with the error type of its path: a ctx ended before the call
// was sent, a stream closed early, a spawn that fails, an actor killed
// under a call, a Map whose one item kills its worker.
func TestEverySpanEnds(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx, root := tracer.Start(ctx, "test")
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		mid, err := actor.Spawn(ctx, n, "mid")
		require.NoError(t, err)

		cctx, ccancel := context.WithCancel(ctx)
		ccancel()
		_, err = Relay.Call(cctx, mid, false)
		require.ErrorIs(t, err, context.Canceled)

		s, err := Count.Open(ctx, mid, 1<<30)
		require.NoError(t, err)
		<-s.C
		s.Close()
		require.ErrorIs(t, s.Err(), actor.ErrStreamClosed)

		sctx, scancel := context.WithCancel(ctx)
		scancel()
		_, err = actor.Spawn(sctx, n, "never")
		require.Error(t, err)

		if proctest.ProcessBackend() {
			victim, err := actor.Spawn(ctx, n, "victim")
			require.NoError(t, err)
			called := make(chan error, 1)
			go func() { _, err := Block.Call(ctx, victim, 0); called <- err }()
			// The call is in flight once the victim serves it; Kill it
			// then, or before: either way the call ends with the death.
			victim.Kill()
			var ee *actor.ExitError
			require.ErrorAs(t, <-called, &ee)
		}
		mid.Cancel()
		return nil
	})
	require.NoError(t, err)
	if proctest.ProcessBackend() {
		p, err := pool.New(ctx, pool.WithWorkers(1))
		require.NoError(t, err)
		var failed int
		for _, err := range pool.Map(ctx, p, CrashOn, slices.Values([]int{1, 2, 3})) {
			var ee *actor.ExitError
			if errors.As(err, &ee) {
				failed++
			} else {
				require.NoError(t, err)
			}
		}
		require.Equal(t, 1, failed)
		require.NoError(t, p.Shutdown(ctx))
	}
	root.End()

	id := root.SpanContext().TraceID()
	ended := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range recorder.Ended() {
		if s.SpanContext().TraceID() == id {
			ended[s.SpanContext().SpanID().String()] = s
		}
	}
	types := map[string][]string{} // span name → error types
	for _, s := range recorder.Started() {
		if s.SpanContext().TraceID() != id {
			continue
		}
		e, ok := ended[s.SpanContext().SpanID().String()]
		require.True(t, ok, "span %s (%s) never ended", s.Name(), s.SpanKind())
		for _, kv := range e.Attributes() {
			if kv.Key == "error.type" {
				types[e.Name()] = append(types[e.Name()], kv.Value.AsString())
			}
		}
	}
	require.Contains(t, types[Relay.Name()], "context.Canceled")
	require.Contains(t, types[Count.Name()], "actor.ErrStreamClosed")
	require.NotEmpty(t, types["grove.spawn"])
	if proctest.ProcessBackend() {
		require.Contains(t, types[Block.Name()], "*actor.ExitError")
		require.Contains(t, types["grove.pool.task "+CrashOn.Name()], "*actor.ExitError")
	}
}
