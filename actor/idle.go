package actor

import (
	"context"
	"time"

	"github.com/grove-rt/grove/nursery"
)

// DefaultIdleWarning is how long an actor with no call in flight waits,
// after its nursery's body has returned, before it warns that it is still
// waiting to be cancelled.
const DefaultIdleWarning = 10 * time.Second

// WithIdleWarning sets how long after its nursery's body has returned an
// actor with no call in flight waits before it logs one warning through
// log/slog, to [WithLogger]'s logger or [slog.Default] (default [DefaultIdleWarning]); zero or less turns it off. An
// actor lives until it is cancelled, so a body that returns without
// [nursery.Nursery.Cancel] or [Ref.Cancel] makes Run wait for it: by
// design, but usually a mistake. "In flight" is counted on the parent's
// side: a call whose caller gave up (its ctx ended) no longer counts, even
// while a function that ignores its ctx still runs it in the actor.
func WithIdleWarning(d time.Duration) Option { return func(c *config) { c.idleWarning = d } }

// An idleWatch warns, once, when the actor has outlived its nursery's body
// by the idle warning with no call in flight, and nothing (ctx, Cancel,
// Kill, its exit, its link's end) has begun to end it. It has no goroutine
// of its own: supervise selects on its channels and calls its methods.
// Until the body returns it costs nothing; then one timer, reset each
// period while calls are in flight.
type idleWatch struct {
	d     time.Duration
	body  <-chan struct{}  // the nursery's BodyDone, until it closes; nil when off
	timer *time.Timer      // started once the body has returned
	tick  <-chan time.Time // timer's channel, until the warning or the end
}

func newIdleWatch(d time.Duration, n *nursery.Nursery) *idleWatch {
	w := &idleWatch{d: d}
	if d > 0 {
		w.body = n.BodyDone()
	}
	return w
}

// bodyReturned starts the timer, once the body has returned.
func (w *idleWatch) bodyReturned() {
	w.body = nil
	w.timer = time.NewTimer(w.d)
	w.tick = w.timer.C
}

// fired checks, when a period has passed, whether r is idle and not
// ending; it warns, once, or waits another period.
func (w *idleWatch) fired(ctx context.Context, r *Ref) {
	if ctx.Err() != nil || closed(r.cancel) || closed(r.killReq) || closed(r.run.exited()) || closed(r.conn.Done()) {
		w.tick = nil // the actor is ending: supervise hears of it next
		return
	}
	if r.conn.Streams() > 0 {
		w.timer.Reset(w.d)
		return
	}
	w.tick = nil
	r.cfg.warnLog().Warn("actor: idle after its nursery's body returned; the nursery waits for it",
		append(actorAttrs(r.id), "waited", w.d,
			"why", "an actor lives until it is cancelled, and this one has no call in flight",
			"fix", "call n.Cancel(nil) at the end of the body, or ref.Cancel() when done with the actor")...)
}

// stop releases the timer.
func (w *idleWatch) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}
