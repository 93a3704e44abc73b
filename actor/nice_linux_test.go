package actor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// niceness returns the nice field of every thread of pid (/proc/pid/task/
// tid/stat, field 19).
func niceness(t *testing.T, pid int) []int {
	t.Helper()
	paths, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
	require.NoError(t, err)
	var out []int
	for _, path := range paths {
		if nice, ok := statNice(t, path); ok {
			out = append(out, nice)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// statNice reads the nice field of a stat file, if it is still there.
func statNice(t *testing.T, path string) (int, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false // the thread ended meanwhile
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	nice, err := strconv.Atoi(f[16])
	require.NoError(t, err)
	return nice, true
}

// TestWithNice: an actor started WithNice(n) runs every thread n steps
// nicer than its parent, from its start (a thread its runtime started
// before Main, and one it starts later, alike); a negative n needs
// privilege; StartProcess applies it too; the goroutine backend ignores it.
func TestWithNice(t *testing.T) {
	proctest.NoChildrenLeft(t)
	// The main thread's: this process's other threads include the
	// spawners', niced for their children until they exit.
	parent, ok := statNice(t, "/proc/self/stat")
	require.True(t, ok)
	cases := []struct {
		name string
		n    int
	}{
		{"default", 0},
		{"nicer", 3},
		{"capped", 40},
		{"less nice", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := min(max(parent+tc.n, -20), 19)
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				ref, err := actor.Spawn(ctx, n, "nice", actor.WithNice(tc.n))
				if tc.n < 0 && os.Geteuid() != 0 {
					require.Error(t, err)
					require.True(t, errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM), "%v", err)
					require.Contains(t, err.Error(), "WithNice(-1)")
					return nil
				}
				if err != nil {
					return err
				}
				if !proctest.ProcessBackend() {
					n.Cancel(nil)
					return nil // no process of its own: nothing to renice
				}
				// A call makes the child's runtime start more threads.
				_, err = square.Call(ctx, ref, 3)
				require.NoError(t, err)
				for _, got := range niceness(t, ref.PID()) {
					require.Equal(t, want, got, "a thread of the actor")
				}
				n.Cancel(nil)
				return nil
			})
			require.NoError(t, err)
		})
	}
	t.Run("StartProcess", func(t *testing.T) {
		proctest.NeedsProcesses(t, "a process")
		p, err := actor.StartProcess(context.Background(), "nice", "", actor.WithNice(2))
		require.NoError(t, err)
		for _, got := range niceness(t, p.PID()) {
			require.Equal(t, min(parent+2, 19), got)
		}
		p.Link().Close()
		_ = p.Wait()
	})
	got, _ := statNice(t, "/proc/self/stat")
	require.Equal(t, parent, got, "this process's niceness changed")
}
