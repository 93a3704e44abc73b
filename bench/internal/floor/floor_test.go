package floor_test

import (
	"bufio"
	"testing"

	"syscall"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/bench/internal/floor"
	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/internal/proctest"
)

func TestMain(m *testing.M) {
	floor.ChildMain()
	leakcheck.Main(m)
}

func TestSpawnOnce(t *testing.T) {
	proctest.NoChildrenLeft(t)
	d, err := floor.SpawnOnce()
	require.NoError(t, err)
	require.Positive(t, d)
}

func TestPingPongEchoesWholeMessages(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const size = 256 << 10 // larger than a socket buffer: read in pieces
	c, err := floor.Start(floor.PingPong, size)
	require.NoError(t, err)
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	require.NoError(t, c.PingPong(buf, 3))
	for i := range buf {
		require.Equal(t, byte(i), buf[i], "byte %d", i)
	}
	require.NoError(t, c.Close())
}

func TestStreamDeliversEveryItem(t *testing.T) {
	proctest.NoChildrenLeft(t)
	c, err := floor.Start(floor.Stream, 16)
	require.NoError(t, err)
	r := bufio.NewReader(c.Conn)
	require.NoError(t, c.Stream(r, 100_000))
	require.NoError(t, c.Stream(r, 1))
	require.Zero(t, r.Buffered(), "exactly the items asked for arrive")
	require.NoError(t, c.Close())
}

func TestSignalEndsSpinners(t *testing.T) {
	proctest.NoChildrenLeft(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		c, err := floor.Start(floor.Spin, 0)
		require.NoError(t, err)
		require.NoError(t, c.Ready())
		require.NoError(t, c.Signal(sig), "an exit by the signal sent is no error")
	}
}

func TestIdleExitsOnClose(t *testing.T) {
	proctest.NoChildrenLeft(t)
	c, err := floor.Start(floor.Idle, 0)
	require.NoError(t, err)
	require.NoError(t, c.Ready())
	require.True(t, proctest.Alive(c.PID()))
	require.NoError(t, c.Close())
}

func TestUnknownModeFails(t *testing.T) {
	proctest.NoChildrenLeft(t)
	c, err := floor.Start("no-such-mode", 0)
	require.NoError(t, err)
	require.ErrorContains(t, c.Close(), "exit status 2")
}
