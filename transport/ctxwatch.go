package transport

import "context"

// A ctxWatch keeps one context.AfterFunc registration from one use to the
// next: a goroutine that waits again and again with the same ctx (a caller
// making call after call) registers it once, instead of paying
// context.AfterFunc's allocations and its parent's child-set bookkeeping on
// every wait. It is keyed by ctx's Done channel, which is what ends the
// wait: a ctx whose Done is already watched (the same ctx, or a value
// ctx of it) registers nothing. The owner guards it with its own lock and
// calls reset when it ends, so that no ctx keeps it reachable.
//
// The function may thus run for a ctx whose wait is over: it must check
// that the goroutine blocked now still needs interrupting.
type ctxWatch struct {
	done <-chan struct{} // the Done channel watched, or nil
	stop func() bool
}

// watch makes f run once ctx ends, unless ctx never ends or its Done is
// the one already watched. It replaces any other registration.
func (cw *ctxWatch) watch(ctx context.Context, f func()) {
	done := ctx.Done()
	if done == nil || done == cw.done {
		return
	}
	cw.reset()
	cw.done, cw.stop = done, context.AfterFunc(ctx, f)
}

// reset drops the registration, if any.
func (cw *ctxWatch) reset() {
	if cw.stop != nil {
		cw.stop()
	}
	cw.done, cw.stop = nil, nil
}
