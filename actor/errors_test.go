package actor_test

import (
	"context"
	"errors"
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

// stackFrames lists the functions of a Go stack trace, in order.
func stackFrames(stack string) []string {
	var out []string
	for _, line := range strings.Split(stack, "\n") {
		if line == "" || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "goroutine ") {
			continue
		}
		out = append(out, line)
	}
	return out
}

// requireUserFramesLead checks that a remote panic's stack starts with the
// user's frame and holds none of the runtime's, grove's or conc's.
func requireUserFramesLead(t *testing.T, stack string) {
	t.Helper()
	fs := stackFrames(stack)
	require.NotEmpty(t, fs, stack)
	require.Contains(t, fs[0], "actor_test.explode", "the user's frame leads:\n%s", stack)
	for _, f := range fs {
		for _, machinery := range []string{"runtime.", "panic(", "github.com/grove-rt/grove/actor.", "github.com/grove-rt/grove/nursery.", "github.com/sourcegraph/conc"} {
			require.False(t, strings.HasPrefix(f, machinery) || strings.HasPrefix(f, "created by "+machinery),
				"frame %q of the machinery is trimmed:\n%s", f, stack)
		}
	}
}

// overflow recurses until the stack overflows: a fatal error whose report
// is longer than the stderr tail. The recursion is bounded, but a million
// frames of over 64 bytes each need 64 times the 1 MB the stack may grow
// to: if it ever returned, the call would succeed and the test would fail.
var overflow = actor.Func("test.overflow", func(ctx context.Context, _ struct{}) (int, error) {
	debug.SetMaxStack(1 << 20)
	return recurse(1 << 20), nil
})

// recurse calls itself n deep, with 64 bytes of its own on each frame.
//
//go:noinline
func recurse(n int) int {
	if n == 0 {
		return 0
	}
	var pad [64]byte
	pad[n%64] = byte(n)
	return recurse(n-1) + int(pad[0])
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

// twoFailures fails twice in one nursery: a returned error and a panic,
// neither waiting for the cancel the first one causes.
var twoFailures = actor.Func("test.twoFailures", func(ctx context.Context, _ struct{}) (int, error) {
	return 0, nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return fmt.Errorf("first: %w", errQuota) })
		n.Go(func(ctx context.Context) error { return explodeErr() })
		return nil
	})
})

func explodeErr() error {
	_, err := explode()
	return err
}

// relayReq asks relay to spawn Depth levels of actors below itself, the
// last of which runs Fn; every level wraps what it gets in Wrap and the
// level's number.
type relayReq struct {
	Fn    string
	Wrap  string
	Depth int
}

var relay = actor.Func("test.relay", func(ctx context.Context, req relayReq) (int, error) {
	return 0, nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, fmt.Sprintf("level%d", req.Depth))
		if err != nil {
			return err
		}
		switch {
		case req.Depth > 1:
			_, err = relayCall(ctx, ref, relayReq{Fn: req.Fn, Wrap: req.Wrap, Depth: req.Depth - 1})
		case req.Fn == "fail":
			_, err = fail.Call(ctx, ref, "deep")
		case req.Fn == "panic":
			_, err = panicky.Call(ctx, ref, struct{}{})
		case req.Fn == "exit":
			_, err = exit.Call(ctx, ref, 3)
		case req.Fn == "two":
			_, err = twoFailures.Call(ctx, ref, struct{}{})
		}
		if err != nil && req.Wrap != "" {
			err = fmt.Errorf("%s %d: %w", req.Wrap, req.Depth, err)
		}
		return err
	})
})

// relayCall calls relay (a variable cannot refer to itself).
func relayCall(ctx context.Context, ref *actor.Ref, req relayReq) (int, error) {
	return actor.CallByName[int](ctx, ref, "test.relay", req)
}

// relayFrom spawns the top of a relay chain, with opts, and returns what
// reaches the root.
func relayFrom(t *testing.T, req relayReq, opts ...actor.Option) error {
	t.Helper()
	proctest.NoChildrenLeft(t)
	var callErr error
	_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, fmt.Sprintf("level%d", req.Depth+1), opts...)
		if err != nil {
			return err
		}
		_, callErr = relay.Call(ctx, ref, req)
		n.Cancel(nil)
		return nil
	})
	require.Error(t, callErr)
	return callErr
}

func TestExitErrorKeepsItsStructureAcrossHops(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit code")
	err := relayFrom(t, relayReq{Fn: "exit", Wrap: "call", Depth: 2})
	// level2 sees the death twice, as its call's error (which it wraps) and
	// as the task of the actor: its nursery keeps it once, in the words of
	// the wrapper.
	require.Len(t, nursery.Errors(err), 1, "one death, one error: %v", err)
	contexts := map[string]bool{}
	for _, m := range nursery.Errors(err) {
		var ee *actor.ExitError
		require.ErrorAs(t, m, &ee, "%v", err)
		require.Equal(t, "level1", ee.Actor.Name, "the actor whose process ended")
		require.Equal(t, 3, ee.Code)
		require.Contains(t, ee.Stderr, "about to exit with 3")
		require.Len(t, ee.Via, 2, "each hop: %v", err)
		require.Equal(t, "level2", ee.Via[0].Name)
		require.Equal(t, "level3", ee.Via[1].Name)
		require.Len(t, ee.Context, 2)
		require.Equal(t, "call 2", ee.Context[1], "the outer wrapping reaches every member")
		contexts[ee.Context[0]] = true
		require.Contains(t, m.Error(), "process exited with code 3\n  via actor level2[")
	}
	require.True(t, contexts["call 1"], "the inner wrapping is kept: %v", err)
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
}

// TestDeathReachesTheRootOnce: a middle actor that returns its call's
// error as it is reports the grandchild's death once, although both the
// call and the grandchild's task failed with it.
func TestDeathReachesTheRootOnce(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit code")
	err := relayFrom(t, relayReq{Fn: "exit", Depth: 2})
	require.Len(t, nursery.Errors(err), 1, "one death, one error: %v", err)
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, ee.Code)
	require.Len(t, ee.Via, 2, "each hop: %v", err)
}

func TestWrappedErrorsReadOneLinePerHop(t *testing.T) {
	t.Run("returned", func(t *testing.T) {
		err := relayFrom(t, relayReq{Fn: "fail", Wrap: "call", Depth: 2})
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		require.ErrorIs(t, err, errQuota)
		require.Equal(t, "deep: quota exceeded", re.Message, "the original's message")
		text := err.Error()
		require.Equal(t, 1, strings.Count(text, "actor level1["), "the source once:\n%s", text)
		require.Equal(t, 1, strings.Count(text, "(*fmt.wrapError)"), "the type once:\n%s", text)
		lines := strings.Split(text, "\n")
		require.Len(t, lines, 3, "one line per hop:\n%s", text)
		require.True(t, strings.HasPrefix(lines[1], "  via actor level2[") && strings.HasSuffix(lines[1], ": call 1"), text)
		require.True(t, strings.HasPrefix(lines[2], "  via actor level3[") && strings.HasSuffix(lines[2], ": call 2"), text)
	})
	t.Run("panic", func(t *testing.T) {
		err := relayFrom(t, relayReq{Fn: "panic", Wrap: "call", Depth: 1})
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		require.True(t, re.Panicked())
		requireUserFramesLead(t, re.Stack)
		require.Equal(t, []string{"call 1"}, re.Context, "the wrapper's words are kept")
		text := err.Error()
		require.Equal(t, 1, strings.Count(text, "remote stack of"), "the stack once:\n%s", text)
		require.Contains(t, text, "panic: assignment to entry in nil map\n  via actor level2[")
		require.Contains(t, text, ": call 1\n")
	})
}

func TestErrorGroupCrossesWhole(t *testing.T) {
	cases := []struct {
		depth int
		wrap  string
	}{{0, ""}, {1, ""}, {1, "call"}}
	for _, tc := range cases {
		depth := tc.depth
		t.Run(fmt.Sprintf("%d hops %q", depth+1, tc.wrap), func(t *testing.T) {
			var err error
			if depth == 0 {
				proctest.NoChildrenLeft(t)
				_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
					ref, serr := actor.Spawn(ctx, n, "level1")
					if serr != nil {
						return serr
					}
					_, err = twoFailures.Call(ctx, ref, struct{}{})
					n.Cancel(nil)
					return nil
				})
			} else {
				err = relayFrom(t, relayReq{Fn: "two", Depth: 1, Wrap: tc.wrap})
			}
			members := nursery.Errors(err)
			require.Len(t, members, 2, "every member crosses: %v", err)
			var returned, panicked *actor.RemoteError
			for _, m := range members {
				var re *actor.RemoteError
				require.ErrorAs(t, m, &re)
				require.Equal(t, "level1", re.Source.Name)
				require.Len(t, re.Via, depth, "each member keeps its path")
				if tc.wrap != "" {
					require.Equal(t, []string{"call 1"}, re.Context, "a wrapped group crosses whole, each member with the words")
				}
				if re.Panicked() {
					panicked = re
				} else {
					returned = re
				}
			}
			require.NotNil(t, returned)
			require.NotNil(t, panicked)
			require.Equal(t, "*fmt.wrapError", returned.Type)
			require.ErrorIs(t, returned, errQuota)
			require.Contains(t, panicked.Message, "assignment to entry in nil map")
			requireUserFramesLead(t, panicked.Stack) // each member keeps its stack
			require.ErrorIs(t, err, errQuota)
		})
	}
}

var nestedGroups = actor.Func("test.nestedGroups", func(ctx context.Context, _ struct{}) (int, error) {
	inner := errors.Join(errors.New("a"), fmt.Errorf("b: %w", errQuota))
	return 0, errors.Join(fmt.Errorf("stage 2: %w", inner), errors.New("c"))
})

// TestWrappedGroupInAGroupCrossesWhole: a member of a group that is itself
// a wrapped group crosses as its members, each with the wrapper's words.
func TestWrappedGroupInAGroupCrossesWhole(t *testing.T) {
	proctest.NoChildrenLeft(t)
	var err error
	require.NoError(t, nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, serr := actor.Spawn(ctx, n, "level1")
		if serr != nil {
			return serr
		}
		_, err = nestedGroups.Call(ctx, ref, struct{}{})
		n.Cancel(nil)
		return nil
	}))
	var messages []string
	for _, m := range nursery.Errors(err) {
		var re *actor.RemoteError
		require.ErrorAs(t, m, &re)
		messages = append(messages, re.Message)
	}
	require.Equal(t, []string{"stage 2: a", "stage 2: b: quota exceeded", "c"}, messages, "%v", err)
	require.ErrorIs(t, err, errQuota, "each member keeps what it matched")
}
