package otelgrove_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// leafError is the leaf's failure, whose type the spans must name.
type leafError struct{ why string }

func (e *leafError) Error() string { return "leaf failed: " + e.why }

// Leaf is the third level: it fails when asked to.
var Leaf = actor.Func("otelgrove_test.Leaf", func(ctx context.Context, fail bool) (string, error) {
	if fail {
		return "", &leafError{"asked to"}
	}
	return "leaf", nil
})

// Relay is the second level: it spawns a leaf and calls it, under the
// ctx of its own call, so that the leaf's span is a child of its own.
var Relay = actor.Func("otelgrove_test.Relay", func(ctx context.Context, fail bool) (string, error) {
	var got string
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		leaf, err := actor.Spawn(ctx, n, "leaf")
		if err != nil {
			return err
		}
		got, err = Leaf.Call(ctx, leaf, fail)
		leaf.Cancel()
		return err
	})
	return "relay>" + got, err
})

// Count streams n items.
var Count = actor.StreamFunc("otelgrove_test.Count", func(ctx context.Context, n int, out chan<- int) error {
	for i := range n {
		select {
		case out <- i:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
})

// Double doubles each item of its caller's.
var Double = actor.DuplexFunc("otelgrove_test.Double", func(ctx context.Context, in <-chan int, out chan<- int) error {
	for v := range in {
		select {
		case out <- 2 * v:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
})

// spawnOpts has a child export its spans to path (and its children, which
// inherit the environment).
func spawnOpts(path string) []actor.Option {
	return []actor.Option{actor.WithEnv(spansEnv + "=" + path)}
}

// tree runs body under a test span, with a nursery in which it spawns
// the actor "mid", and returns the trace's spans once the nursery (and so
// every process of the tree) has ended.
func tree(t *testing.T, body func(ctx context.Context, mid *actor.Ref) error) ([]span, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx, root := tracer.Start(ctx, "test")
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		mid, err := actor.Spawn(ctx, n, "mid", spawnOpts(path)...)
		if err != nil {
			return err
		}
		defer mid.Cancel()
		return body(ctx, mid)
	})
	root.End()
	return readSpans(t, path, root.SpanContext().TraceID()), err
}

// find returns the one span of name and kind.
func find(t *testing.T, spans []span, name, kind string) span {
	t.Helper()
	var found []span
	for _, s := range spans {
		if s.Name == name && s.Kind == kind {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "spans %s (%s) among %v", name, kind, spans)
	return found[0]
}

// chain checks that the call of Relay and of Leaf nest across the
// processes: test → client Relay → server Relay → client Leaf → server
// Leaf, one trace, each in the process it belongs to.
func chain(t *testing.T, spans []span) (relayClient, relayServer, leafClient, leafServer span) {
	t.Helper()
	test := find(t, spans, "test", "internal")
	relayClient = find(t, spans, Relay.Name(), "client")
	relayServer = find(t, spans, Relay.Name(), "server")
	leafClient = find(t, spans, Leaf.Name(), "client")
	leafServer = find(t, spans, Leaf.Name(), "server")
	var spawns []span
	for _, s := range spans {
		if s.Name == "grove.spawn" && s.Attrs["grove.actor.name"] == "leaf" {
			spawns = append(spawns, s)
		}
	}
	require.Len(t, spawns, 1, "the leaf's spawn, in %v", spans)
	spawn := spawns[0]
	require.Equal(t, leafServer.Attrs["grove.actor.id"], spawn.Attrs["grove.actor.id"])
	require.Equal(t, leafServer.Attrs["grove.backend"], spawn.Attrs["grove.backend"])
	require.Equal(t, test.ID, relayClient.Parent)
	require.Equal(t, relayClient.ID, relayServer.Parent)
	require.Equal(t, relayServer.ID, leafClient.Parent)
	require.Equal(t, relayServer.ID, spawn.Parent)
	require.Equal(t, leafClient.ID, leafServer.Parent)
	require.Equal(t, "mid", relayServer.Attrs["grove.actor.name"])
	require.Equal(t, "leaf", leafServer.Attrs["grove.actor.name"])
	require.Equal(t, Leaf.Name(), leafServer.Attrs["rpc.method"])
	require.Equal(t, leafServer.Attrs["grove.actor.id"], leafClient.Attrs["grove.actor.id"])
	require.Equal(t, fmt.Sprint(relayServer.PID), relayClient.Attrs["grove.actor.pid"])
	if proctest.ProcessBackend() {
		require.Equal(t, os.Getpid(), relayClient.PID)
		require.NotEqual(t, relayClient.PID, relayServer.PID, "the server span is the child's")
		require.Equal(t, relayServer.PID, leafClient.PID)
		require.NotEqual(t, leafClient.PID, leafServer.PID, "the leaf's span is the grandchild's")
		require.NotEqual(t, relayServer.PID, leafServer.PID)
	}
	return relayClient, relayServer, leafClient, leafServer
}

// TestTraceAcrossThreeLevels calls through a tree of three processes and
// finds one trace whose spans nest across them.
func TestTraceAcrossThreeLevels(t *testing.T) {
	proctest.NoChildrenLeft(t)
	spans, err := tree(t, func(ctx context.Context, mid *actor.Ref) error {
		got, err := Relay.Call(ctx, mid, false)
		require.Equal(t, "relay>leaf", got)
		return err
	})
	require.NoError(t, err)
	rc, rs, lc, ls := chain(t, spans)
	for _, s := range []span{rc, rs, lc, ls} {
		require.Equal(t, "Unset", s.Status, s.Name)
		require.Empty(t, s.Attrs["error.type"])
	}
}

// TestFailingLeafMarksEveryLevel fails the leaf: its span and every
// parent's have status Error and the leaf's error type.
func TestFailingLeafMarksEveryLevel(t *testing.T) {
	proctest.NoChildrenLeft(t)
	spans, err := tree(t, func(ctx context.Context, mid *actor.Ref) error {
		_, err := Relay.Call(ctx, mid, true)
		var re *actor.RemoteError
		require.True(t, errors.As(err, &re), "%v", err)
		return nil
	})
	require.NoError(t, err)
	rc, rs, lc, ls := chain(t, spans)
	for _, s := range []span{rc, rs, lc, ls} {
		require.Equal(t, "Error", s.Status, s.Name+" "+s.Kind)
		require.Equal(t, "*otelgrove_test.leafError", s.Attrs["error.type"], s.Name+" "+s.Kind)
	}
}

// TestStreamCarriesTheTrace streams from a child: the stream's client and
// server spans are one trace and count the items.
func TestStreamCarriesTheTrace(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const n = 100
	spans, err := tree(t, func(ctx context.Context, mid *actor.Ref) error {
		s, err := Count.Open(ctx, mid, n)
		if err != nil {
			return err
		}
		got := 0
		for range s.C {
			got++
		}
		require.Equal(t, n, got)
		return s.Err()
	})
	require.NoError(t, err)
	requireStreamSpans(t, spans, Count.Name(), "stream", n)
}

// TestDuplexCarriesTheTrace exchanges items with a child: the duplex's
// client and server spans are one trace, and count the items each side
// received and sent.
func TestDuplexCarriesTheTrace(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const n = 20
	spans, err := tree(t, func(ctx context.Context, mid *actor.Ref) error {
		d, err := Double.Open(ctx, mid)
		if err != nil {
			return err
		}
		go func() {
			defer close(d.In)
			for i := range n {
				d.In <- i
			}
		}()
		sum := 0
		for v := range d.Out {
			sum += v
		}
		require.Equal(t, n*(n-1), sum)
		return d.Err()
	})
	require.NoError(t, err)
	requireStreamSpans(t, spans, Double.Name(), "duplex", n)
}

// requireStreamSpans checks the client and server spans of a stream or
// duplex of fn: the server's is the client's child, and each counted n
// items.
func requireStreamSpans(t *testing.T, spans []span, fn, kind string, n int) {
	t.Helper()
	client := find(t, spans, fn, "client")
	server := find(t, spans, fn, "server")
	require.Equal(t, client.ID, server.Parent)
	require.Equal(t, kind, client.Attrs["grove.call.kind"])
	require.Equal(t, fmt.Sprint(n), client.Attrs["grove.stream.items"])
	require.Equal(t, fmt.Sprint(n), server.Attrs["grove.stream.items"])
}

// TestUnknownFunctionGetsAServerSpan calls a function the child never
// registered: the child still records a server span, a child of the
// caller's, with the error, as net/http's instrumentation records a 404.
func TestUnknownFunctionGetsAServerSpan(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const name = "otelgrove_test.Undeclared"
	spans, err := tree(t, func(ctx context.Context, mid *actor.Ref) error {
		_, err := actor.CallByName[int](ctx, mid, name, 1)
		require.ErrorIs(t, err, actor.ErrUnknownFunction)
		return nil
	})
	require.NoError(t, err)
	client, server := find(t, spans, name, "client"), find(t, spans, name, "server")
	require.Equal(t, client.ID, server.Parent)
	for _, s := range []span{client, server} {
		require.Equal(t, "Error", s.Status, s.Kind)
		require.Equal(t, "actor.ErrUnknownFunction", s.Attrs["error.type"], s.Kind)
	}
	// Metrics do not take the name: a caller could send any number of them.
	calls, ok := collect(t)["grove.calls"].(metricdata.Sum[int64])
	require.True(t, ok)
	other := false
	for _, dp := range calls.DataPoints {
		method, _ := dp.Attributes.Value("rpc.method")
		require.NotEqual(t, name, method.AsString())
		other = other || method.AsString() == "_OTHER"
	}
	require.True(t, other, "the client's call counts as rpc.method _OTHER")
}
