package actor

import (
	"context"
	"log/slog"
	"time"

	"github.com/grove-rt/grove/nursery"
)

// DefaultIdleWarning is how long an actor with no call in flight waits,
// after its nursery's body has returned, before it warns that it is still
// waiting to be cancelled.
const DefaultIdleWarning = 10 * time.Second

// WithIdleWarning sets how long after its nursery's body has returned an
// actor with no call in flight waits before it logs one warning through
// log/slog (default [DefaultIdleWarning]); zero or less turns it off. An
// actor lives until it is cancelled, so a body that returns without
// [nursery.Nursery.Cancel] or [Ref.Cancel] makes Run wait for it: by
// design, but usually a mistake.
func WithIdleWarning(d time.Duration) Option { return func(c *config) { c.idleWarning = d } }

// watchIdle warns, once, when the actor has outlived its nursery's body by
// the idle warning with no call in flight, and nothing (ctx, Cancel, Kill,
// its exit) has begun to end it. It returns the function that stops the
// watch and waits for it; until the body returns the watch costs one
// parked goroutine, then a timer per period.
func (r *Ref) watchIdle(ctx context.Context, n *nursery.Nursery) (stop func()) {
	d := r.cfg.idleWarning
	if d <= 0 {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-n.BodyDone():
		case <-quit:
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-quit:
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-r.cancel:
				return
			case <-r.killReq:
				return
			case <-r.exited:
				return
			default:
			}
			if r.conn.Streams() == 0 {
				slog.Warn("actor: the nursery's body has returned, but this actor has no call in flight and still runs: "+
					"an actor lives until it is cancelled, so the nursery waits for it; "+
					"call n.Cancel(nil) at the end of the body, or ref.Cancel() when done with the actor",
					"actor", r.id.String(), "waited", d)
				return
			}
			t.Reset(d)
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}
