package grove_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bridge"
	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/pool"
)

func TestMain(m *testing.M) {
	actor.Main() // the test binary is its own actor executable
	leakcheck.Main(m)
}

// A tick is an item of the ticks stream: a level announcing its pid, or a
// count from the bottom of the tree.
type tick struct {
	PID   int
	Count int
}

// ticks, at depth 0, counts until cancelled; above, it spawns an actor one
// level down and relays its stream, after announcing its own pid. (It is
// set in init because it calls itself.)
var ticks *actor.StreamFunction[int, tick]

func init() { ticks = actor.StreamFunc("grove_test.ticks", relayTicks) }

func relayTicks(ctx context.Context, depth int, out chan<- tick) error {
	send := func(t tick) error {
		select {
		case out <- t:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := send(tick{PID: os.Getpid()}); err != nil {
		return err
	}
	if depth == 0 {
		for i := 1; ; i++ {
			if err := send(tick{Count: i}); err != nil {
				return err
			}
		}
	}
	return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, fmt.Sprintf("level%d", depth-1))
		if err != nil {
			return err
		}
		s, err := ticks.Open(ctx, ref, depth-1)
		if err != nil {
			return err
		}
		for t := range s.C {
			if err := send(t); err != nil {
				return err
			}
		}
		return s.Err()
	})
}

// A three-level tree of processes streams values up to the root while the
// root cancels it at a random moment: every process is reaped, none is
// left behind, and the cancel is a clean stop.
func TestTreeStreamsUpAndIsCancelledAtARandomMoment(t *testing.T) {
	proctest.NoChildrenLeft(t)
	for round := range 3 {
		stopAfter := 1 + rand.IntN(2000)
		var pids []int
		counted := 0
		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			top, err := actor.Spawn(ctx, n, "level2")
			if err != nil {
				return err
			}
			s, err := ticks.Open(ctx, top, 2)
			if err != nil {
				return err
			}
			for t := range s.C {
				if t.PID != 0 {
					pids = append(pids, t.PID)
					continue
				}
				if counted++; t.Count != counted {
					return fmt.Errorf("tick %d arrived as %d", counted, t.Count)
				}
				if counted == stopAfter {
					n.Cancel(nil)
				}
			}
			return nil
		})
		require.NoError(t, err, "round %d: stop after %d", round, stopAfter)
		require.Len(t, pids, 3, "three levels announced themselves")
		require.Empty(t, proctest.Gone(pids, 2*time.Second), "every level is gone")
	}
}

// slowSquare squares, slowly enough that a map over it can be cancelled
// half-way.
var slowSquare = actor.Func("grove_test.slowSquare", func(ctx context.Context, x int) (int, error) {
	select {
	case <-time.After(5 * time.Millisecond):
		return x * x, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
})

// Code on an event loop drives a pool of worker actors through RunSync;
// the loop's ctx is cancelled half-way: the map stops, the loop ends, the
// pool shuts down, and no process is left behind.
func TestLoopDrivesAPoolAndIsCancelledHalfWay(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := pool.New(ctx, pool.WithWorkers(2))
	require.NoError(t, err)
	l := bridge.NewLoop(bridge.WithName("kernel"))
	var got, mapErr error
	results := 0
	require.NoError(t, l.Post(func(ctx context.Context) {
		_, got = bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
			for _, err := range pool.Map(ctx, p, slowSquare, func(yield func(int) bool) {
				for i := 0; ; i++ {
					if !yield(i) {
						return
					}
				}
			}, pool.WithBatchSize(1)) {
				if err != nil {
					mapErr = err
					break
				}
				if results++; results == 50 {
					cancel() // half-way through an endless map
				}
			}
			return results, nil
		})
	}))
	err = l.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, got)
	require.ErrorIs(t, mapErr, context.Canceled)
	require.GreaterOrEqual(t, results, 50)
	require.NoError(t, p.Close())
}
