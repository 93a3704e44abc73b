package actor_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// parkedCalls receives, in an actor, one value per call of park that has
// begun: goroutines counts the calls in flight by it.
var parkedCalls = make(chan struct{}, 64)

var (
	// park stays in flight until its ctx ends.
	park = actor.Func("test.park", func(ctx context.Context, _ struct{}) (int, error) {
		parkedCalls <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	})

	// goroutines waits until k calls of park have begun, then returns how
	// many goroutines the actor's process runs.
	goroutines = actor.Func("test.goroutines", func(ctx context.Context, k int) (int, error) {
		for range k {
			select {
			case <-parkedCalls:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return runtime.NumGoroutine(), nil
	})
)

// The goroutines an actor costs, stated in DESIGN.md (actor, Cost): its
// parent runs 6 per idle actor on either backend (on the process backend:
// the actor's task, the link's read and write loops, the stdout and stderr
// forwarders, the process waiter; on the goroutine backend: the task, the
// actor's serving goroutine, and the read and write loops of both ends of
// the link), and the actor runs one per call in flight, the call's own.
const (
	goroutinesPerIdleActor  = 6
	goroutinesPerServedCall = 1
)

// TestGoroutinesPerIdleActor spawns actors that sit idle and counts the
// goroutines their parent runs for them.
func TestGoroutinesPerIdleActor(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const actors = 20
	var before, after int
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		before = runtime.NumGoroutine()
		for range actors {
			if _, err := actor.Spawn(ctx, n, "idle"); err != nil {
				return err
			}
		}
		after = runtime.NumGoroutine()
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
	perActor := float64(after-before) / actors
	t.Logf("%.2f goroutines per idle actor (%d actors)", perActor, actors)
	require.LessOrEqual(t, perActor, goroutinesPerIdleActor+0.25, "goroutines the parent runs per idle actor")
	require.GreaterOrEqual(t, perActor, 3.0, "the count measures the actors")
}

// TestGoroutinesPerServedCall makes calls that stay in flight and counts the
// goroutines the actor runs for them: one each, the one that runs the
// function, and none that watches for the caller's Cancel.
func TestGoroutinesPerServedCall(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const calls = 20
	var base, loaded int
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "server")
		if err != nil {
			return err
		}
		if base, err = goroutines.Call(ctx, ref, 0); err != nil {
			return err
		}
		pctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() { _, _ = park.Call(pctx, ref, struct{}{}) })
		}
		loaded, err = goroutines.Call(ctx, ref, calls)
		cancel()
		wg.Wait()
		n.Cancel(nil)
		return err
	})
	require.NoError(t, err)
	// Counted in goroutines, not a float per call (0.9 is no float64: 38/20-1
	// fell just under it). The count is exact but for the transport's reader
	// of last resort (the reading watchdog's goroutine), which comes and goes
	// on each link end in the counted process: base may hold one more or
	// fewer than loaded per end. The goroutine backend's process holds both
	// ends of the link; the process backend's, one.
	const readerSlack = 2
	served := loaded - base
	if !proctest.ProcessBackend() {
		served -= calls // the callers' goroutines run in the same process
	}
	t.Logf("%d goroutines for %d served calls, %d in its process serving one", served, calls, base)
	require.LessOrEqual(t, served, calls*goroutinesPerServedCall+readerSlack, "goroutines the actor runs per call in flight")
	require.GreaterOrEqual(t, served, calls*goroutinesPerServedCall-readerSlack, "the count measures the calls")
}
