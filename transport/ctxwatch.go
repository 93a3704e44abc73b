package transport

import "context"

// A ctxWatch keeps a context.AfterFunc registration from one wait to the
// next when the same ctx keeps coming back: a goroutine that waits again
// and again with one ctx (a caller making call after call) registers it
// once, instead of paying context.AfterFunc's allocations and its parent's
// child-set bookkeeping on every wait. A ctx seen for the first time is
// registered for its wait only, and unregistered after it, as a plain
// AfterFunc would be: a ctx made for one call and cancelled after it then
// never fires a kept registration (a goroutine at its cancel). The ctx of
// the previous wait, seen again, is kept registered. It is keyed by ctx's
// Done channel, which is what ends the wait: a value ctx of a watched ctx
// registers nothing. The owner guards it with its own lock and calls reset
// when it ends, so that no ctx keeps it reachable.
//
// The function may thus run for a ctx whose wait is over: it must check
// that the goroutine blocked now still needs interrupting.
type ctxWatch struct {
	done <-chan struct{} // the Done channel registered, or nil
	stop func() bool
	keep bool            // done came back: stays registered after its wait
	prev <-chan struct{} // the Done of the last wait, unregistered after it
}

// watch makes f run once ctx ends, unless ctx never ends or its Done is
// the one already registered. It replaces any other registration.
func (cw *ctxWatch) watch(ctx context.Context, f func()) {
	done := ctx.Done()
	if done == nil || done == cw.done {
		return
	}
	keep := done == cw.prev
	cw.reset()
	cw.done, cw.stop, cw.keep = done, context.AfterFunc(ctx, f), keep
}

// waited ends a wait: the registration stays only if its ctx came back.
func (cw *ctxWatch) waited() {
	if cw.done != nil && !cw.keep {
		done := cw.done
		cw.reset()
		cw.prev = done
	}
}

// reset drops the registration, if any.
func (cw *ctxWatch) reset() {
	if cw.stop != nil {
		cw.stop()
	}
	cw.done, cw.stop, cw.keep, cw.prev = nil, nil, false, nil
}
