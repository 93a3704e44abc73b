package proctest_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/internal/proctest"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestChildrenAndGone(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	require.Contains(t, proctest.Children(os.Getpid()), cmd.Process.Pid)
	require.True(t, proctest.Alive(cmd.Process.Pid))
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Empty(t, proctest.Gone([]int{cmd.Process.Pid}, time.Second))
	require.NotContains(t, proctest.Children(os.Getpid()), cmd.Process.Pid)
}
