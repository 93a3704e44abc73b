//go:build unix

package clustertest_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster/clustertest"
)

// The sweep finds the processes of an agent's process group that do not
// carry the cluster's ID (an actor spawned with actor.WithEnvOnly).
func TestSweepProcessGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	t.Parallel()
	tc := clustertest.Start(t, clustertest.Servers(1))
	cmd := exec.Command("sleep", "60")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no GROVE_CLUSTERTEST
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Empty(t, clustertest.Left(tc), "not an agent's group yet")
	clustertest.Track(tc, cmd.Process.Pid)
	require.Equal(t, []int{cmd.Process.Pid}, clustertest.Left(tc))
	require.NoError(t, cmd.Process.Kill())
	<-exited
	require.Empty(t, clustertest.Left(tc))
}
