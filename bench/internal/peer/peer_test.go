package peer_test

import (
	"context"
	"net/rpc"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/bench/internal/peer"
)

// TestMain lets this test binary act as the peer children it starts, then
// checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	peer.ChildMain()
	goleak.VerifyTestMain(m)
}

// requireGone asserts that pid names no process, not even a zombie: the
// child has exited and been reaped.
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Positive(t, pid)
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestPluginEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p, err := peer.StartPlugin(ctx)
	require.NoError(t, err)
	pid := p.PID()
	require.NoError(t, syscall.Kill(pid, 0), "plugin process should be running")

	got, err := p.Echo(ctx, []byte("hello, plugin"))
	require.NoError(t, err)
	require.Equal(t, []byte("hello, plugin"), got)

	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	got, err = p.Echo(ctx, big)
	require.NoError(t, err)
	require.Equal(t, big, got)

	require.NoError(t, p.Close())
	requireGone(t, pid)
	require.NoError(t, p.Close(), "Close is idempotent")

	_, err = p.Echo(ctx, []byte("late"))
	require.Error(t, err)
}

func TestStartPluginCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := peer.StartPlugin(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestNetRPCEcho(t *testing.T) {
	r, err := peer.StartNetRPC()
	require.NoError(t, err)
	pid := peer.NetRPCPID(r)
	require.NoError(t, syscall.Kill(pid, 0), "net/rpc child should be running")

	got, err := r.Echo([]byte("hello, net/rpc"))
	require.NoError(t, err)
	require.Equal(t, []byte("hello, net/rpc"), got)

	got, err = r.Echo(nil)
	require.NoError(t, err)
	require.Empty(t, got)

	require.NoError(t, r.Close())
	requireGone(t, pid)
	require.NoError(t, r.Close(), "Close is idempotent")

	_, err = r.Echo([]byte("late"))
	require.ErrorIs(t, err, rpc.ErrShutdown)
}

func TestPythonMapApply(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("python3 is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p, err := peer.StartPython(ctx, 2)
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()

	d, err := p.Map(1000)
	require.NoError(t, err)
	require.Positive(t, d)

	d, err = p.Apply(10)
	require.NoError(t, err)
	require.Positive(t, d)

	_, err = p.Map(-1)
	require.Error(t, err)

	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	_, err = p.Map(1)
	require.Error(t, err)
}

func TestStartPythonMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := peer.StartPython(context.Background(), 1)
	require.ErrorIs(t, err, peer.ErrNoPython)
}
