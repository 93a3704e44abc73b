package actor_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/internal/treetest"
	"github.com/grove-rt/grove/transport"
)

func TestServeDebug(t *testing.T) {
	proctest.NoChildrenLeft(t)
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	treetest.Run(t, func(ctx context.Context, mid *actor.Ref) {
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		d, err := actor.ServeDebug(sctx)
		require.NoError(t, err)
		defer d.Close()
		require.Equal(t, filepath.Join(dir, "grove", "debug-"+strconv.Itoa(os.Getpid())+".sock"), d.Path())
		require.Equal(t, actor.DebugSocket(os.Getpid()), d.Path())
		fi, err := os.Stat(filepath.Dir(d.Path()))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "the socket's directory is private")

		_, err = actor.ServeDebug(ctx)
		require.ErrorContains(t, err, "already serving", "one debug socket a process")

		tree, err := actor.DebugTree(ctx, os.Getpid())
		require.NoError(t, err)
		require.Equal(t, os.Getpid(), tree.PID)
		m := childByID(t, tree, mid.ID())
		require.Equal(t, map[string]int{treetest.MidFunc: 1}, m.Calls)
		require.Len(t, m.Children, 1)
		require.Equal(t, map[string]int{treetest.LeafFunc: 1}, m.Children[0].Calls)

		var buf bytes.Buffer
		require.NoError(t, actor.DebugStacks(ctx, os.Getpid(), &buf))
		sections := dumpSections(t, buf.String())
		require.Contains(t, sections[m.Children[0].ID], "depth 2,")
		if proctest.ProcessBackend() {
			require.Contains(t, sections[m.Children[0].ID], treetest.LeafFrame)
		}

		require.NoError(t, d.Close())
		_, err = os.Stat(d.Path())
		require.ErrorIs(t, err, os.ErrNotExist, "Close removed the socket")
		_, err = actor.DebugTree(ctx, os.Getpid())
		require.ErrorIs(t, err, actor.ErrNoDebug)
		require.ErrorContains(t, err, "call actor.ServeDebug in that program to opt in")

		// Served again, until its ctx ends: the socket goes with it.
		d2, err := actor.ServeDebug(sctx)
		require.NoError(t, err)
		defer d2.Close()
		_, err = actor.DebugTree(ctx, os.Getpid())
		require.NoError(t, err)
		stop()
		gone := false
		for range 1000 { // each try is a dial: no sleep
			// A dial racing the close may be reset: wait for the socket's end.
			if _, err = actor.DebugTree(ctx, os.Getpid()); errors.Is(err, actor.ErrNoDebug) {
				gone = true
				break
			}
		}
		require.True(t, gone, "the socket stops answering once ctx ends")
		require.ErrorIs(t, err, actor.ErrNoDebug)
		require.NoError(t, d2.Close())
		_, err = os.Stat(d2.Path())
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestDebugClientErrors(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid // reaped: no process has it, unless reused at once

	for _, tc := range []struct {
		name string
		pid  int
		want string
	}{
		{"bad pid", 0, "give the pid of a running program"},
		{"no process", dead, "no process"},
		{"no opt-in", os.Getpid(), "call actor.ServeDebug in that program to opt in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := actor.DebugTree(ctx, tc.pid)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, actor.DebugStacks(ctx, tc.pid, &bytes.Buffer{}), tc.want)
		})
	}
}

// A client that opens connection after connection and never hangs up
// holds 16 at most: past them the server closes each as it accepts it,
// and serves again once one of the 16 goes.
func TestServeDebugBoundsItsConnections(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := actor.ServeDebug(ctx)
	require.NoError(t, err)
	defer d.Close()
	const served = 16
	var conns []*transport.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range served + 1 {
		c, err := transport.DialUnix(ctx, d.Path())
		require.NoError(t, err)
		conns = append(conns, c)
	}
	// The server accepts them in the order their handshakes end: one of
	// them, any, is closed by it.
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(time.After(10 * time.Second))}}
	for _, c := range conns {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.Done())})
	}
	chosen, _, _ := reflect.Select(cases)
	require.NotZero(t, chosen, "a connection past the 16 was left open (it would stay a minute)")
	open := 0
	for _, c := range conns {
		if c.Err() == nil {
			open++
		}
	}
	require.LessOrEqual(t, open, served)
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	conns = nil
	for range 1000 { // each try is a dial: no sleep
		// The server frees a slot once it sees its connection gone.
		if _, err = actor.DebugTree(ctx, os.Getpid()); err == nil {
			break
		}
	}
	require.NoError(t, err, "served again once the connections went")
}
