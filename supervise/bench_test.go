package supervise_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/supervise"
)

// BenchmarkActorChildRestart measures an ActorChild's restart: from a call
// that crashes its actor to the first successful call of the new
// incarnation (the death seen, the old process reaped, a new one spawned
// and its handshake done).
func BenchmarkActorChildRestart(b *testing.B) {
	proctest.NeedsProcesses(b, "a process to crash")
	refs := make(chan *actor.Ref)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- supervise.Run(ctx, supervise.Spec{
			Strategy:  supervise.OneForOne,
			Intensity: 1 << 30, // never give up while measuring
			Period:    time.Second,
			Children: []supervise.Child{supervise.ActorChild("worker", supervise.Permanent, nil,
				func(ctx context.Context, ref *actor.Ref) error {
					select {
					case refs <- ref:
					case <-ctx.Done():
						return nil
					}
					<-ctx.Done()
					return nil
				})},
		})
	}()
	ref := <-refs
	for b.Loop() {
		if _, err := crash.Call(ctx, ref, 0); err == nil {
			b.Fatal("crash returned: the actor did not die")
		}
		ref = <-refs // the new incarnation, spawned and handshaken
		if _, err := pid.Call(ctx, ref, 0); err != nil {
			b.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
}
