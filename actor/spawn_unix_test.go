//go:build unix

package actor_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/proctest"
)

// runHelperProgram runs the test binary as the helper program mode and
// returns its stdout and stderr. A helper that outlives the bound is killed
// with everything it started (the actors' Pdeathsig follows their parent).
func runHelperProgram(t *testing.T, mode string) (stdout, stderr string) {
	t.Helper()
	return runHelperStarted(t, mode, (*exec.Cmd).Start)
}

// runHelperStarted is runHelperProgram with start to start the helper's
// command, which may add to its environment.
func runHelperStarted(t *testing.T, mode string, start func(*exec.Cmd) error) (stdout, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, depthEnv+"=0")
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, start(cmd))
	_ = cmd.Wait() // its exit code is its own business: the output says what happened
	require.NoError(t, ctx.Err(), "the helper did not finish: %s\n%s", out.String(), errOut.String())
	return out.String(), errOut.String()
}

// A program that forgets actor.Main spawns an actor, the same program: that
// actor's Spawn refuses at once (it would start a runaway chain), and the
// root's Spawn says the same, with the fix. The helper caps the chain at
// maxDepth levels whatever Spawn does.
func TestForgottenMainRefusesAtOnce(t *testing.T) {
	proctest.NeedsProcesses(t, "a program to run without actor.Main")
	proctest.NoChildrenLeft(t)
	start := time.Now()
	stdout, stderr := runHelperProgram(t, "nomain")
	require.NotContains(t, stdout+stderr, "runaway", "the actor spawned another level")
	require.Contains(t, stdout, "spawn error: ", stderr)
	require.Contains(t, stdout, "call actor.Main() first in main", "the root's error says the fix")
	require.Contains(t, stderr, "call actor.Main() first in main", "so does the actor's own")
	require.Less(t, time.Since(start), 10*time.Second, "at once, not after the start timeout")
}

// A parent out of descriptors reports its own EMFILE, whichever step of the
// spawn met it, never the exit of the child it had to abandon, and keeps
// no descriptor of a failed spawn.
func TestSpawnOutOfDescriptors(t *testing.T) {
	proctest.NeedsProcesses(t, "a descriptor table to exhaust")
	proctest.NoChildrenLeft(t)
	stdout, stderr := runHelperProgram(t, "fds")
	require.NotContains(t, stdout, "BAD", stderr)
	require.NotContains(t, stdout, "LEAK", stderr)
	require.Contains(t, stdout, "ok=", stderr)
	require.NotContains(t, stdout, "emfile=0", "the table was never exhausted: %s", stdout)
	require.NotContains(t, stdout, "ok=0 ", "no spawn ever had enough: %s", stdout)
}
