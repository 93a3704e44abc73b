//go:build unix

package actor_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/proctest"
)

// In a process started as an actor, discovery before actor.Main() has
// taken over fails with the fix, instead of using a registrar of the
// process's own that no one else sees.
func TestNamesBeforeMainFail(t *testing.T) {
	proctest.NeedsProcesses(t, "a process started as an actor")
	stdout, stderr := runHelperStarted(t, "registerbeforemain", func(cmd *exec.Cmd) error {
		cmd.Env = append(cmd.Env, "GROVE_ACTOR=1", "GROVE_ACTOR_NAME=early", "GROVE_ACTOR_ID=0123456789abcdef")
		return cmd.Start()
	})
	for _, op := range []string{"register: ", "find: ", "watch: "} {
		i := strings.Index(stdout, op)
		require.GreaterOrEqual(t, i, 0, "%s\n%s", stdout, stderr)
		line, _, _ := strings.Cut(stdout[i:], "\n")
		require.Contains(t, line, "call actor.Main() first in main", line)
	}
}
