package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/internal/proctest"
)

func TestMain(m *testing.M) {
	actor.Main() // the demo's actors are this test binary, re-executed
	agentMain()  // and so are its host agents
	leakcheck.Main(m)
}

// The demo's whole output but for the line of the detection time.
const want = `== an embedded NATS server, with generated nkey users and subject permissions
this program joined as the user "client"; the servers hold only public keys
== three host agents, each a process of its own (this binary, re-executed)
agent h1 is up
agent h2 is up
agent h3 is up
== a tree across the hosts: one actor on each, tasks of one nursery, streaming back
the actor on h1: started by the agent of h1, holds no credentials; streamed 1 4 9 16
the actor on h2: started by the agent of h2, holds no credentials; streamed 1 4 9 16
the actor on h3: started by the agent of h3, holds no credentials; streamed 1 4 9 16
every actor was stopped and reaped by its agent; the nursery returned
== host h3 crashes (its agent is SIGKILLed) while an actor streams on every host
the actor on h3: its stream failed with *actor.HostLostError, host h3, reported by the membership watcher: agent's connection closed
DETECTED
the actor on h1: its stream was cancelled, as a sibling of the failed task
the actor on h2: its stream was cancelled, as a sibling of the failed task
the nursery returned the HostLostError; its DeadBy bounds when the actor on h3 is certainly dead (its agent's kill deadline: here its death signal came first)
== nothing is left
the agents of h1 and h2 stopped on SIGTERM
the server shut down
no process of the cluster is left (looked for in /proc)
`

// slack is what the crash bound gets on a shared 2-core box, as in the
// cluster module's tests.
const slack = 300 * time.Millisecond

var detected = regexp.MustCompile(`(?m)^detected (within the 250 ms bound|in (\S+), over the 250 ms bound) of crash detection.*$`)

func TestDemo(t *testing.T) {
	proctest.NeedsProcesses(t, "host agents and their actors as processes")
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("the demo looks for processes left in /proc, which this system has not")
	}
	// Built with -race, a process sleeps a second as it exits
	// (atexit_sleep_ms); the agents and actors inherit the environment,
	// so that they exit at once.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	proctest.NoChildrenLeft(t)
	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), &buf))
	require.Empty(t, proctest.Children(os.Getpid()), "run returns only once every agent has been reaped")

	out := buf.String()
	m := detected.FindStringSubmatch(out)
	require.NotNil(t, m, "the detection line:\n%s", out)
	if m[2] != "" { // over the bound: within the slack of a loaded box
		d, err := time.ParseDuration(m[2])
		require.NoError(t, err)
		require.Less(t, d, 250*time.Millisecond+slack, "crash detection")
	}
	require.Equal(t, want, detected.ReplaceAllString(out, "DETECTED"))
}

// TestDemoCancelled cancels run's ctx before it starts, as Ctrl-C would:
// run returns the cancellation and leaves no process behind.
func TestDemoCancelled(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	require.ErrorIs(t, run(ctx, &buf), context.Canceled)
	require.NotContains(t, buf.String(), "agent h1 is up")
}
