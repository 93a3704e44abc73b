package otelgrove_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/otelgrove"
)

// TestInstallOnce checks the one registration: TestMain installed
// otelgrove, so a second Install panics with the fix, as does a nil
// instrumentation, and the one registered stays.
func TestInstallOnce(t *testing.T) {
	before := actor.GetInstrumentation()
	require.NotNil(t, before)
	require.PanicsWithValue(t, "actor: SetInstrumentation called twice: register the instrumentation once, in main or an init function",
		func() { otelgrove.Install() })
	require.PanicsWithValue(t, "actor: SetInstrumentation(nil): pass an Instrumentation (otelgrove.Install registers one)",
		func() { actor.SetInstrumentation(nil) })
	require.Same(t, before, actor.GetInstrumentation())
	_, ok := before.(actor.Flusher)
	require.True(t, ok, "otelgrove flushes before an actor's process exits")
}
