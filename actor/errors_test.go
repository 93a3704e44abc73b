package actor_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// stdSentinels are the standard library's sentinels that cross the
// boundary without being registered by the program.
var stdSentinels = map[string]error{
	"fs.ErrNotExist":           fs.ErrNotExist,
	"fs.ErrExist":              fs.ErrExist,
	"fs.ErrPermission":         fs.ErrPermission,
	"os.ErrDeadlineExceeded":   os.ErrDeadlineExceeded,
	"io.ErrUnexpectedEOF":      io.ErrUnexpectedEOF,
	"net.ErrClosed":            net.ErrClosed,
	"io.EOF":                   io.EOF,
	"context.Canceled":         context.Canceled,
	"context.DeadlineExceeded": context.DeadlineExceeded,
}

// stdError returns the named sentinel wrapped, as library code returns it;
// fs.ErrNotExist comes from a real os.Open.
var stdError = actor.Func("test.stdError", func(ctx context.Context, name string) (int, error) {
	if name == "fs.ErrNotExist" {
		_, err := os.Open("/no/such/file/for/grove")
		return 0, err
	}
	return 0, fmt.Errorf("wrapped: %w", stdSentinels[name])
})

func TestStdSentinelsCrossTheBoundary(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		for name, target := range stdSentinels {
			_, err := stdError.Call(ctx, ref, name)
			require.Error(t, err, name)
			require.ErrorIs(t, err, target, "%s matches across the boundary", name)
		}
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

// frames lists the functions of a Go stack trace, in order.
func frames(stack string) []string {
	var out []string
	for _, line := range strings.Split(stack, "\n") {
		if line == "" || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "goroutine ") {
			continue
		}
		out = append(out, line)
	}
	return out
}

func TestRemotePanicStackLeadsWithUserFrames(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		_, err = panicky.Call(ctx, ref, struct{}{})
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		fs := frames(re.Stack)
		require.NotEmpty(t, fs, re.Stack)
		require.Contains(t, fs[0], "actor_test.explode", "the user's frame leads:\n%s", re.Stack)
		for _, f := range fs {
			for _, machinery := range []string{"runtime.", "github.com/grove-rt/grove/actor.", "github.com/sourcegraph/conc"} {
				require.False(t, strings.HasPrefix(f, machinery) || strings.HasPrefix(f, "created by "+machinery),
					"frame %q of the machinery is trimmed:\n%s", f, re.Stack)
			}
		}
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

// overflow recurses until the stack overflows: a fatal error whose report
// is longer than the stderr tail.
var overflow = actor.Func("test.overflow", func(ctx context.Context, _ struct{}) (int, error) {
	debug.SetMaxStack(1 << 20)
	return recurse(0), nil
})

//go:noinline
func recurse(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	return recurse(n+1) + int(pad[0])
}

func TestStackOverflowKeepsItsHeadline(t *testing.T) {
	proctest.NeedsProcesses(t, "a crashing process")
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		_, err = overflow.Call(ctx, ref, struct{}{})
		return err
	})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	require.Contains(t, ee.Stderr, "fatal error: stack overflow", "the headline is kept")
	require.Contains(t, ee.Stderr, "goroutine stack exceeds", "with the lines before it")
	require.Contains(t, ee.Stderr, "created by", "and the tail")
	require.Less(t, len(ee.Stderr), 8<<10, "bounded")
}
