package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/internal/proctest"
)

func TestMain(m *testing.M) {
	actor.Main() // the demo's actors are this test binary, re-executed
	leakcheck.Main(m)
}

// The demo's whole output; WHY is how w1's first incarnation crashed,
// which depends on the backend.
const want = `== the cache is up, registered as "cache"; the workers start under a supervisor
level=INFO msg="child started" child=w0 restarts=0
level=INFO msg="child started" child=w1 restarts=0
level=WARN msg="child failed" child=w1 restarts=0 why="WHY"
level=INFO msg="child restarted" child=w1 restarts=1
level=INFO msg="child started" child=w1 restarts=1
== the workers are done
w0 stored items 1..5
w1 stored items 8..10 (incarnation 2, resuming after item 7, the last its crashed predecessor stored in the cache)
== a client finds the cache by name
client: the squares of 1..10 in the cache add up to 385
client: a call of serveCache through the name is refused (actor.ErrNotExposed): the cache exposed only get and put
== the tree is cancelled
every actor has stopped, and the name went with its owner: Find("cache") matches actor.ErrNotFound
`

func TestDemo(t *testing.T) {
	proctest.NeedsProcesses(t, "w1 crashing with os.Exit in a child process")
	// Built with -race, a process sleeps a second as it exits
	// (atexit_sleep_ms); the actors inherit the environment, so that they
	// exit at once.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	proctest.NoChildrenLeft(t)
	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), &buf))
	require.Empty(t, proctest.Children(os.Getpid()), "run returns only once every actor has been reaped")
	require.Equal(t, strings.Replace(want, "WHY", "its process exited with code 3", 1), buf.String())
}

// TestDemoGoroutineBackend plays the demo with goroutine actors, where w1
// panics instead of exiting (which would end the test): the same story.
func TestDemoGoroutineBackend(t *testing.T) {
	t.Setenv("GROVE_BACKEND", "goroutine")
	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), &buf))
	require.Equal(t, strings.Replace(want, "WHY", "it panicked: w1 crashes at item 8, as told", 1), buf.String())
}

// TestDemoCancelled cancels run's ctx before the tree starts, as Ctrl-C
// would: run returns the cancellation and leaves no actor behind.
func TestDemoCancelled(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	require.ErrorIs(t, run(ctx, &buf), context.Canceled)
	require.NotContains(t, buf.String(), "== the workers are done")
}
