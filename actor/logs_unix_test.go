//go:build unix

package actor_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// A remote actor's output, which its Placer feeds through pipes, becomes
// records the same way, with its host.
func TestWithLoggerRemote(t *testing.T) {
	proctest.NeedsProcesses(t, "a loopback host's processes")
	proctest.NoChildrenLeft(t)
	p := newLoopPlacer(t)
	log, logger := newJSONLog()
	var ref *actor.Ref
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		var err error
		if ref, err = actor.Spawn(ctx, n, "far", actor.OnHost(p), actor.WithLogger(logger)); err != nil {
			return err
		}
		_, err = say.Call(ctx, ref, "from afar")
		n.Cancel(nil)
		return err
	})
	require.NoError(t, err)
	recs := log.records(t)
	for msg, stream := range map[string]string{"out: from afar": "stdout", "err: from afar": "stderr"} {
		got := find(recs, msg)
		require.Len(t, got, 1, "one record of %q: %v", msg, recs)
		requireActor(t, got[0], ref)
		require.Equal(t, "loop", got[0]["grove.host"])
		require.Equal(t, stream, got[0]["log.iostream"])
	}
}
