package actor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/internal/treetest"
	"github.com/grove-rt/grove/nursery"
)

// childByID finds the child of t with the given id.
func childByID(t *testing.T, info actor.TreeInfo, id string) actor.TreeInfo {
	t.Helper()
	for _, c := range info.Children {
		if c.ID == id {
			return c
		}
	}
	require.Failf(t, "no such child", "%s has no child %s: %+v", info.Name, id, info.Children)
	return actor.TreeInfo{}
}

func TestTreeThreeLevels(t *testing.T) {
	proctest.NoChildrenLeft(t)
	treetest.Run(t, func(ctx context.Context, mid *actor.Ref) {
		tree, err := actor.Tree(ctx)
		require.NoError(t, err)
		require.Equal(t, "root", tree.Name)
		require.Equal(t, os.Getpid(), tree.PID)
		require.Equal(t, actor.BackendProcess, tree.Backend)
		require.Equal(t, actor.StateServing, tree.State)
		require.Empty(t, tree.Parent)

		m := childByID(t, tree, mid.ID())
		require.Empty(t, m.Err)
		require.Equal(t, "mid", m.Name)
		require.Equal(t, mid.PID(), m.PID)
		require.Equal(t, tree.ID, m.Parent)
		require.Equal(t, actor.StateServing, m.State)
		require.Equal(t, map[string]int{treetest.MidFunc: 1}, m.Calls, "the call in flight, by its function")
		require.Positive(t, m.Uptime)
		require.Len(t, m.Children, 1)

		l := m.Children[0]
		require.Empty(t, l.Err)
		require.Equal(t, "leaf", l.Name)
		require.Equal(t, m.ID, l.Parent)
		require.Equal(t, actor.StateServing, l.State)
		require.Equal(t, map[string]int{treetest.LeafFunc: 1}, l.Calls)
		require.Empty(t, l.Children)
		if proctest.ProcessBackend() {
			require.Equal(t, actor.BackendProcess, m.Backend)
			require.Equal(t, actor.BackendProcess, l.Backend)
			require.NotEqual(t, m.PID, l.PID)
			require.NotEqual(t, tree.PID, l.PID)
			require.True(t, proctest.Alive(l.PID), "the leaf's pid is a live process")
			require.Positive(t, m.RSS)
			require.Positive(t, l.RSS)
		} else {
			require.Equal(t, actor.BackendGoroutine, m.Backend)
			require.Equal(t, actor.BackendGoroutine, l.Backend)
			require.Equal(t, tree.PID, l.PID, "a goroutine actor's pid is its process's")
			require.Zero(t, l.RSS, "a goroutine actor's memory is its process's")
		}

		// Called in the mid actor's code, the tree starts there.
		sub, err := treeOf.Call(ctx, mid, 0)
		require.NoError(t, err)
		require.Equal(t, mid.ID(), sub.ID)
		require.Equal(t, tree.ID, sub.Parent, "the actor knows its parent over its link")
		require.Len(t, sub.Children, 1)
		require.Equal(t, l.ID, sub.Children[0].ID)
	})
}

// treeOf returns the tree as seen from the actor it runs in.
var treeOf = actor.Func("actor_test.treeOf", func(ctx context.Context, _ int) (actor.TreeInfo, error) {
	return actor.Tree(ctx)
})

// dumpSections splits a DumpStacks text by its headers, keyed by actor id.
func dumpSections(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, part := range strings.Split(text, "=== actor ")[1:] {
		name, _, ok := strings.Cut(part, "]")
		require.True(t, ok, "a header names the actor: %q", part)
		_, id, _ := strings.Cut(name, "[")
		out[id] = part
	}
	return out
}

func TestDumpStacksThreeLevels(t *testing.T) {
	proctest.NoChildrenLeft(t)
	treetest.Run(t, func(ctx context.Context, mid *actor.Ref) {
		tree, err := actor.Tree(ctx)
		require.NoError(t, err)
		m := childByID(t, tree, mid.ID())
		require.Len(t, m.Children, 1)
		l := m.Children[0]

		var buf bytes.Buffer
		require.NoError(t, actor.DumpStacks(ctx, &buf))
		sections := dumpSections(t, buf.String())
		root, midPart, leafPart := sections[tree.ID], sections[m.ID], sections[l.ID]
		require.Contains(t, root, "depth 0, process")
		require.Contains(t, midPart, "depth 1,")
		require.Contains(t, leafPart, "depth 2,")
		const frame = treetest.LeafFrame
		if proctest.ProcessBackend() {
			require.Contains(t, leafPart, frame, "the leaf's dump holds its blocked function")
			require.NotContains(t, midPart, frame)
			require.NotContains(t, root, frame)
			require.Contains(t, midPart, "treetest.init", "the mid's dump is its own process's") // mid's closure
		} else {
			require.Contains(t, leafPart, "its goroutines are in the dump of process")
			require.Contains(t, root, frame, "goroutine actors share their process's dump")
		}
	})
}

func TestTreeAndStacksBoundedByAHungActor(t *testing.T) {
	proctest.NeedsProcesses(t, "a process to stop with SIGSTOP")
	proctest.NoChildrenLeft(t)
	treetest.Run(t, func(ctx context.Context, mid *actor.Ref) {
		tree, err := actor.Tree(ctx)
		require.NoError(t, err)
		leafPID := childByID(t, tree, mid.ID()).Children[0].PID
		for _, hung := range []struct {
			what string
			pid  int
		}{{"leaf", leafPID}, {"mid", mid.PID()}} {
			t.Run(hung.what, func(t *testing.T) {
				require.NoError(t, stopProcess(hung.pid))
				defer func() { require.NoError(t, continueProcess(hung.pid)) }()
				const bound = 600 * time.Millisecond
				tctx, cancel := context.WithTimeout(ctx, bound)
				defer cancel()
				began := time.Now()
				tree, err := actor.Tree(tctx)
				require.NoError(t, err)
				require.Less(t, time.Since(began), bound+500*time.Millisecond, "the hung actor did not hold up the snapshot")
				m := childByID(t, tree, mid.ID())
				var stuck actor.TreeInfo
				if hung.what == "mid" {
					stuck = m
					require.Empty(t, m.Children, "the children of an actor that did not answer are unknown")
				} else {
					require.Empty(t, m.Err, "the mid answered, with its hung child marked")
					require.Len(t, m.Children, 1)
					stuck = m.Children[0]
				}
				require.Contains(t, stuck.Err, "did not answer")
				require.Equal(t, hung.pid, stuck.PID, "what the parent knows is kept")

				sctx, cancel := context.WithTimeout(ctx, bound)
				defer cancel()
				var buf bytes.Buffer
				began = time.Now()
				require.NoError(t, actor.DumpStacks(sctx, &buf))
				require.Less(t, time.Since(began), bound+500*time.Millisecond)
				require.Contains(t, buf.String(), "no dump: actor: "+hung.what+"[")
			})
		}
	})
}

func TestTreeGoroutineBackend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		g, err := actor.Spawn(ctx, n, "g", actor.WithBackend(actor.BackendGoroutine))
		if err != nil {
			return err
		}
		tree, err := actor.Tree(ctx)
		require.NoError(t, err)
		c := childByID(t, tree, g.ID())
		require.Equal(t, actor.BackendGoroutine, c.Backend)
		require.Equal(t, os.Getpid(), c.PID)
		require.Equal(t, actor.StateServing, c.State)
		var buf bytes.Buffer
		require.NoError(t, actor.DumpStacks(ctx, &buf))
		require.Contains(t, dumpSections(t, buf.String())[g.ID()], "a goroutine actor, its goroutines are in the dump of process")
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[actor.State]string{
		actor.StateUnknown: "unknown", actor.StateStarting: "starting",
		actor.StateServing: "serving", actor.StateStopping: "stopping", actor.State(99): "unknown",
	} {
		require.Equal(t, want, s.String())
	}
}

func TestReservedNamesRefused(t *testing.T) {
	t.Parallel()
	require.PanicsWithValue(t, `actor: function "grove.mine": names beginning with "grove." are reserved for grove's own functions: `+
		`choose another prefix (your package's name, say)`, func() {
		actor.Func("grove.mine", func(context.Context, int) (int, error) { return 0, nil })
	})
}

func TestTreeNilContext(t *testing.T) {
	t.Parallel()
	//lint:ignore SA1012 the nil ctx is the point
	_, err := actor.Tree(nil)
	require.ErrorContains(t, err, "nil ctx")
	//lint:ignore SA1012 the nil ctx is the point
	require.ErrorContains(t, actor.DumpStacks(nil, &bytes.Buffer{}), "nil ctx")
}

// stubbornStop holds its actor's stop: once its ctx ends it takes ms more
// to return, as a function that cleans up slowly does.
var stubbornStop = actor.StreamFunc("actor_test.stubbornStop", func(ctx context.Context, ms int, out chan<- int) error {
	out <- 1
	<-ctx.Done()
	time.Sleep(time.Duration(ms) * time.Millisecond) // the slow clean-up being modelled, not a wait
	return nil
})

// An actor whose stop is under way still answers the tree view: it is
// shown stopping, with its call still counted, not as one that did not
// answer.
func TestTreeDuringAStop(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		r, err := actor.Spawn(ctx, n, "stubborn")
		if err != nil {
			return err
		}
		st, err := stubbornStop.Open(ctx, r, 1500)
		if err != nil {
			return err
		}
		defer st.Close()
		<-st.C // under way
		r.Cancel()
		var c actor.TreeInfo
		for range 200 { // each try is a Tree: no sleep
			tree, err := actor.Tree(ctx)
			require.NoError(t, err)
			if c = childByID(t, tree, r.ID()); c.State == actor.StateStopping {
				break
			}
		}
		require.Equal(t, actor.StateStopping, c.State)
		require.Empty(t, c.Err, "a stopping actor answers")
		require.Equal(t, r.PID(), c.PID)
		require.Equal(t, map[string]int{"actor_test.stubbornStop": 1}, c.Calls, "its call, still running, is counted")
		return nil
	})
	require.NoError(t, err)
}

// An actor whose spawn is under way (its process started, its handshake
// not yet done) is in the tree, starting, with what its parent knows; the
// snapshot does not wait for it.
func TestTreeDuringASpawn(t *testing.T) {
	proctest.NeedsProcesses(t, "a process that never completes its handshake")
	proctest.NoChildrenLeft(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		n.Go(func(context.Context) error {
			_, err := actor.Spawn(sctx, n, "mute", actor.WithExecutable(sleep), actor.WithArgs("30"), actor.WithStartTimeout(20*time.Second))
			if !errors.Is(err, context.Canceled) {
				return fmt.Errorf("the spawn ended with %v, not with its cancel", err)
			}
			return nil
		})
		var mute actor.TreeInfo
		require.Eventually(t, func() bool {
			tree, err := actor.Tree(ctx)
			require.NoError(t, err)
			for _, c := range tree.Children {
				if c.Name == "mute" {
					mute = c
					return true
				}
			}
			return false
		}, 10*time.Second, time.Millisecond, "the spawn under way is in the tree")
		require.Equal(t, actor.StateStarting, mute.State)
		require.Contains(t, mute.Err, "still starting")
		stop()
		return nil
	})
	require.NoError(t, err)
}
