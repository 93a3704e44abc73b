//go:build linux

package cluster_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/nursery"
)

// relayChild spawns a child of its own (on its own host, as any actor
// spawns one) and runs fn there: "panic" or "exit".
var relayChild = actor.Func("ctest.relayChild", func(ctx context.Context, fn string) (int, error) {
	return 0, nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "grandchild")
		if err != nil {
			return err
		}
		if fn == "exit" {
			_, err = exit.Call(ctx, ref, 3)
		} else {
			_, err = panicky.Call(ctx, ref, struct{}{})
		}
		return err
	})
})

// A remote actor's identity names its host (its agent sets it), so its
// panic's Source does, and so does the relay path of an error from a child
// it spawned on that host: each actor on the path is named with its host,
// once.
func TestRemoteErrorsNameTheirHosts(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(1), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	var panicErr, relayedPanic, relayedExit error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(c.Host("a")), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		require.Contains(t, ref.String(), "on host a")
		_, panicErr = panicky.Call(ctx, ref, struct{}{})
		_, relayedPanic = relayChild.Call(ctx, ref, "panic")
		_, relayedExit = relayChild.Call(ctx, ref, "exit")
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)

	var re *actor.RemoteError
	require.ErrorAs(t, panicErr, &re, "%v", panicErr)
	require.Equal(t, "far", re.Source.Name)
	require.Equal(t, "a", re.Source.Host, "the source names its host")
	require.Empty(t, re.Via)
	headline, _, _ := strings.Cut(panicErr.Error(), "\n")
	require.Contains(t, headline, "@"+strconv.Itoa(re.Source.PID)+" on host a: panic: kaboom")

	require.ErrorAs(t, relayedPanic, &re, "%v", relayedPanic)
	require.Equal(t, "grandchild", re.Source.Name)
	require.Equal(t, "a", re.Source.Host, "the grandchild inherits its parent's host")
	require.Len(t, re.Via, 1, "%v", relayedPanic)
	require.Equal(t, "far", re.Via[0].Name)
	require.Equal(t, "a", re.Via[0].Host, "the relay names its host")
	text := relayedPanic.Error()
	require.Equal(t, 2, strings.Count(text, " on host a"), "once per actor on the path:\n%s", text)

	var ee *actor.ExitError
	require.ErrorAs(t, relayedExit, &ee, "%v", relayedExit)
	require.Equal(t, "grandchild", ee.Actor.Name)
	require.Equal(t, 3, ee.Code)
	require.Equal(t, "a", ee.Actor.Host)
	require.Len(t, ee.Via, 1, "%v", relayedExit)
	require.Equal(t, "a", ee.Via[0].Host)
	text = relayedExit.Error()
	require.Contains(t, text, " on host a: process exited with code 3\n  via actor far[")
	require.Equal(t, 2, strings.Count(text, " on host a"), "once per actor on the path:\n%s", text)
}
