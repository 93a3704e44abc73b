package bridge

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Run is asyncio.run: it runs main on a fresh loop on the calling
// goroutine and returns when main has returned and the loop has drained,
// with main's error (or a callback's panic). Called from code that is
// already running on a loop (its ctx says so) it refuses with an error
// matching [ErrLoopRunning], the analogue of Python's "asyncio.run() cannot
// be called from a running event loop": use [RunSync] there.
func Run(ctx context.Context, main func(ctx context.Context) error) error {
	if l := Current(ctx); l != nil {
		return fmt.Errorf("%w (%s): use bridge.RunSync", ErrLoopRunning, l)
	}
	return runFresh(ctx, main)
}

// runFresh runs main as the first callback of a new loop on this goroutine.
func runFresh(ctx context.Context, main func(ctx context.Context) error) error {
	l := NewLoop()
	l.started = true // not yet shared
	var f frame
	if parent := frameOf(ctx); parent != nil {
		f = *parent
	}
	return l.runMain(ctx, f, bodyFunc(main))
}

// bodyFunc is a function as a loop's main.
type bodyFunc func(ctx context.Context) error

func (f bodyFunc) main(ctx context.Context) error { return f(ctx) }

// RunSync runs fn and waits for its result, whether or not the caller is
// on a loop. From ordinary code it is [Run]. From code running on a loop it
// blocks that loop until fn returns: nothing else posted to the loop runs
// meanwhile, however long fn takes (a UI stops repainting, a kernel stops
// answering), so use [Go] for work that must not block the loop. It does
// not nest loops: fn runs on a goroutine of its own with a fresh loop of its
// own, under the offload [Limiter] (see [WithLimiter]), while the calling
// loop waits. fn's result and error come back; a panic in fn comes back as a
// [*nursery.PanicError] with the stack, and a fn that calls
// [runtime.Goexit] an error saying so; cancelling ctx cancels fn, and
// RunSync returns once fn has. RunSync inside RunSync works at any depth, at
// about the same cost per level.
//
// While the loop waits, the one thing it runs is a [Call] from fn's own work
// (Trio's from_thread.run inside to_thread.run_sync): the callback runs on
// the loop, in the waiting RunSync, and may call RunSync again. The
// goroutine comes parked from a pool that the calling loop keeps (and
// stops and joins when its Run returns), so the offload costs one goroutine
// handoff each way and one allocation: about 0.9 µs on a 2-vCPU Xeon VM
// (0.85–1.0 µs in BenchmarkRunSync/from-loop; README's figure 7a).
func RunSync[T any](ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	f := frameOf(ctx)
	if f == nil || f.loop == nil { // not on a loop
		var v T
		err := runFresh(ctx, func(ctx context.Context) error {
			var err error
			v, err = fn(ctx)
			return err
		})
		return v, err
	}
	l := f.loop
	// Fields are set one by one, here and below: assigning whole structs
	// into the new object costs a bulk write barrier over each.
	c := &syncCall[T]{fn: fn}
	wait := &c.wait
	wait.loop, wait.lim, wait.parent = l, limiterOf(ctx), f.sync
	l.enter() // from here on the loop is blocked, slot or no slot
	held, taken, err := acquire(ctx, func(_ *Limiter, now bool) {
		if now { // where RunSync was called, for ErrLoopBlocked: 0 Callers, 1 this, 2 acquire, 3 RunSync
			var pc [1]uintptr
			runtime.Callers(4, pc[:])
			wait.pc = pc[0]
		}
		l.waitingForSlot(wait, now)
	}, &c.slot)
	if err != nil {
		l.leave(wait)
		return c.v, err
	}
	// The work runs on a worker off the loop and inside the wait, on a
	// fresh loop; the loop's goroutine waits for it on the worker's wake-up
	// channel, a plain receive, running the Calls the work makes onto the
	// loop, which wake it there too. The worker is handed back after the
	// loop is unblocked.
	p := l.workers()
	w := p.get()
	fresh, j := &c.loop, &c.job
	fresh.signal, fresh.pool, fresh.nested, fresh.started = w.signal, p, true, true
	j.ctx, j.loop, j.main = ctx, fresh, c
	j.frame.sync, j.frame.origin, j.frame.held = wait, f.origin, held
	l.listen(wait, w.wake)
	w.jobs <- j
	for {
		<-w.wake
		if j.finished.Load() {
			break
		}
		l.serveReentry()
	}
	taken.release()
	l.leave(wait)
	p.put(w)
	return c.v, j.err
}

// syncCall is one RunSync from a loop, in one allocation: the wait, the
// slot it holds, the fresh loop (which holds the work's ctx) and its job,
// and the result.
// None of it is reused: the work's code may keep its ctx or its loop (Post
// to it then fails with ErrLoopClosed).
type syncCall[T any] struct {
	fn   func(ctx context.Context) (T, error)
	v    T
	wait syncWait
	slot slot
	loop Loop
	job  syncJob
}

func (c *syncCall[T]) main(ctx context.Context) error {
	var err error
	c.v, err = c.fn(ctx)
	return err
}

// Call runs fn on loop l and waits for its result (Trio's
// from_thread.run). Called from l itself it runs fn inline. Called from the
// work of a RunSync that l is blocked in, it runs fn on l at once, in that
// RunSync. From other goroutines it waits its turn in l's queue, honouring
// ctx (fn then does not run, if it has not started; if it has, Call returns
// at once all the same and fn goes on with a cancelled ctx). fn gets a ctx
// that is on l and ends when l's ctx ends or, while fn runs, when the
// caller's does (with its [context.Cause]). If the caller's ctx can end on
// its own (it can be cancelled and is not the ctx l runs under, nor one
// with its Done), fn's ctx is fn's own: it is also cancelled when fn
// returns, or, if fn started work with [Go] (which belongs to the loop and
// outlives fn), when the last of that work ends. Otherwise fn gets l's own
// ctx, which lasts as long as l runs: code that keeps fn's ctx must not
// count on it ending when fn returns. A panic in fn comes back as a
// [*nursery.PanicError], and a fn that calls [runtime.Goexit] (which ends
// l's goroutine) an error saying so. If l has ended, Call returns
// [ErrLoopClosed]. The one call that could never finish is refused with
// [ErrLoopBlocked]: from work (typically started from l with Go) holding a
// slot of the limiter that a RunSync of l is blocked waiting for, when
// every slot of that limiter is held by work waiting in a Call onto l; one
// such Call is refused, and the others then proceed. A Call from another goroutine costs the two
// goroutine switches of a channel round trip and, its record recycled, no
// allocation: a caller whose ctx cannot be cancelled, or is l's own, waits
// on a plain receive (l answers it when that ctx ends, whatever fn is
// doing); one whose ctx can end on its own also selects on it and costs
// one allocation, fn's ctx.
func Call[T any](ctx context.Context, l *Loop, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	f := frameOf(ctx)
	if f != nil && f.loop == l {
		return fn(ctx)
	}
	if f == nil || (f.sync == nil && f.held == nil) { // the common case: one lock for the record and the post
		c, plain, err := postCall(l, ctx, fn)
		switch {
		case err != nil:
			return zero, err
		case plain:
			return c.waitPlain(ctx)
		}
		return c.wait(ctx)
	}
	c := newCall(l, ctx, fn)
	if f != nil {
		for w := f.sync; w != nil; w = w.parent {
			if w.loop != l || w.ended.Load() {
				continue
			}
			// l is blocked waiting for this very work: the RunSync runs fn,
			// in a ctx that holds what the work holds, so that a RunSync in
			// fn nests rather than waits for the work's own slot.
			in := frame{loop: l, sync: f.sync, held: f.held}
			if l.reenterFrom(w, func(lctx context.Context) { c.run(withFrame(lctx, in)) }) {
				return c.wait(ctx)
			}
			break
		}
	}
	if f != nil && f.held != nil {
		return callHolding(ctx, l, f.held, c)
	}
	if err := l.post(task{r: c}); err != nil {
		return zero, err
	}
	return c.wait(ctx)
}

// Records are recycled per loop: a caller that took its record's token
// hands the record back (with its channel) as the loop's spare, if the loop
// has none; the next Call of the same type onto the loop takes it. A caller
// that gave up (its ctx ended) drops its record, since the token may still
// come, or the loop may still be running it. fn's ctx is never part of a
// record: fn may keep it, and a kept ctx that a later Call reused would
// come back to life (its Done open again, its Err nil), which no context
// may do.

// newCall returns a record for a Call of fn onto l, recycled if l has a
// spare of its type; its caller selects on ctx.
func newCall[T any](l *Loop, ctx context.Context, fn func(ctx context.Context) (T, error)) *callReq[T] {
	l.mu.Lock()
	c := spareCall[T](l, waitSelect)
	l.mu.Unlock()
	c.ctx, c.fn = ctx, fn
	return c
}

// postCall is newCall and post, under one lock. It reports whether the
// caller waits on a plain receive: its ctx ends with the one l runs under
// (the same Done), which has not ended yet (see [Loop.sweep]).
func postCall[T any](l *Loop, ctx context.Context, fn func(ctx context.Context) (T, error)) (*callReq[T], bool, error) {
	done := ctx.Done()
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return nil, false, fmt.Errorf("%w: %s", ErrLoopClosed, l)
	}
	state := waitSelect
	if done != nil && done == l.done && !l.swept {
		state = waitPlain
	}
	c := spareCall[T](l, state)
	c.ctx, c.fn = ctx, fn
	l.queue = append(l.queue, task{r: c})
	l.mu.Unlock()
	wake(l.signal)
	return c, state == waitPlain, nil
}

// spareCall takes l's spare record if it is of type T, else makes one, for
// a caller that waits as state says; under l.mu. A spare is waitSelect.
func spareCall[T any](l *Loop, state uint32) *callReq[T] {
	c, ok := l.spareCall.(*callReq[T])
	if ok {
		l.spareCall = nil
	} else {
		c = &callReq[T]{loop: l, done: make(chan struct{}, 1)}
	}
	if state != waitSelect {
		c.state.Store(state)
	}
	return c
}

// waitPlain waits for c's token from the loop or from its sweep.
func (c *callReq[T]) waitPlain(ctx context.Context) (T, error) {
	<-c.done
	if c.state.Load() == cut {
		var zero T
		return zero, ctx.Err()
	}
	return c.result()
}

// wait waits for c's token, or for ctx.
func (c *callReq[T]) wait(ctx context.Context) (T, error) {
	if ctx.Done() == nil { // cannot be cancelled: a plain receive
		<-c.done
		return c.result()
	}
	select {
	case <-c.done:
		return c.result()
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// result returns fn's result, its token taken, and hands c back to its loop.
func (c *callReq[T]) result() (T, error) {
	v, err := c.v, c.err
	var zero T
	c.ctx, c.fn, c.v, c.err = nil, nil, zero, nil
	l := c.loop
	l.mu.Lock()
	if l.spareCall == nil {
		l.spareCall = c
	}
	l.mu.Unlock()
	return v, err
}

// callHolding posts c, a Call onto l from work holding the limiter slots
// held, and waits for it, refusing it once l waits in a RunSync for a slot
// of a limiter in held of which every slot is held by work waiting for l
// (see [Loop.deadlocked]), whether the RunSync waited before the Call or
// starts waiting after.
func callHolding[T any](ctx context.Context, l *Loop, held *slot, c *callReq[T]) (T, error) {
	var zero T
	w, changed := l.callerWaits(held)
	if w != nil {
		return zero, errSlotBlocked(l, w)
	}
	if err := l.post(task{r: c}); err != nil {
		l.callerDone(held)
		return zero, err
	}
	for {
		select {
		case <-c.done:
			l.callerDone(held)
			return c.result()
		case <-ctx.Done():
			l.callerDone(held)
			return zero, ctx.Err()
		case <-changed:
			if w, changed = l.stillWaits(held); w != nil {
				select {
				case <-c.done: // fn ran first
					return c.result()
				default:
				}
				c.abandoned.Store(true)
				return zero, errSlotBlocked(l, w)
			}
		}
	}
}

func errSlotBlocked(l *Loop, w *syncWait) error {
	return fmt.Errorf("%w: loop %s waits in bridge.RunSync at %s for a slot of the offload limiter, and every slot is held by work waiting for that loop, this work included: give the work that calls the loop a limiter of its own (bridge.WithLimiter)",
		ErrLoopBlocked, l, w.site())
}

// callReq is one Call: the callback posted to the loop and its result.
type callReq[T any] struct {
	loop      *Loop
	done      chan struct{} // capacity 1: gets one token when v and err are set, or when cut
	ctx       context.Context
	fn        func(ctx context.Context) (T, error)
	v         T
	err       error
	state     atomic.Uint32 // how the caller waits, and who answered it
	abandoned atomic.Bool   // the caller gave up: fn must not run
}

// A record's state. A caller that selects on its ctx gets its token from
// the loop. One that waits on a plain receive gets it from the loop (which
// moves the state back to waitSelect, as a spare record is) or from the
// loop's sweep (cut), whichever moves the state first; a cut caller
// returns its ctx's error and drops the record, which the loop may still
// be running.
const (
	waitSelect uint32 = iota // the caller selects on its ctx too, or the loop answered
	waitPlain                // the caller waits on a plain receive for the loop or its sweep
	cut                      // the sweep answered a waitPlain caller
)

func (c *callReq[T]) cut() {
	if c.state.CompareAndSwap(waitPlain, cut) {
		c.done <- struct{}{} // never blocks: the loop will not send
	}
}

func (c *callReq[T]) run(lctx context.Context) {
	returned := false
	defer func() {
		if !returned { // fn called runtime.Goexit: the loop's goroutine is ending
			c.v, c.err = *new(T), errCallGoexit
		}
		if st := c.state.Load(); st == waitSelect || st == waitPlain && c.state.CompareAndSwap(waitPlain, waitSelect) {
			c.done <- struct{}{} // never blocks: one token, capacity 1
		}
	}()
	if c.ctx.Err() != nil || c.abandoned.Load() {
		c.err = c.ctx.Err()
		returned = true
		return
	}
	// fn's ctx is the loop's, which ends with it, unless the caller's ctx
	// can end on its own (another Done than the loop's): then it is one of
	// its own that ends with either, never recycled, since fn may keep it.
	fctx := lctx
	if done := c.ctx.Done(); done != nil && done != lctx.Done() {
		cc := &callCtx{Context: lctx, caller: c.ctx}
		defer cc.release()
		fctx = cc
	}
	if pe := try(func() { c.v, c.err = c.fn(fctx) }); pe != nil {
		c.err = pe
	}
	returned = true
}

// callCtx is fn's context in a Call whose caller's ctx can end on its own
// (not the loop's): the loop's context (its values and deadline), done too
// when the caller's is, while fn runs. Linking the two costs a cancel context and a registration with each
// parent, more than the rest of a Call; most functions called on a loop
// never wait, so the link is made only when fn first asks for Done (or
// derives a context, which asks for it), or Err once the caller is done.
// It is cancelled with the caller's cause. When fn returns the link is
// cancelled, unless work fn started with [Go] still runs: work that belongs
// to the loop, not to fn. The link then no longer follows the caller (the
// Call is over) and is cancelled when the last of that work ends.
type callCtx struct {
	context.Context // the loop's
	caller          context.Context

	mu       sync.Mutex           // makes the link once; guards kept and returned
	linked   atomic.Pointer[link] // nil until Done is first called
	kept     int                  // Go work started from fn still running
	returned bool                 // fn has returned
}

// link is the context linked to both parents, and how to unlink it.
type link struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   func() bool
}

// callKey finds the callCtx a ctx runs inside of.
type callKey struct{}

// link returns the linked context, making it on first use. Reading it
// afterwards is one atomic load: Value is on the path of every lookup fn
// makes in its ctx.
func (c *callCtx) link() context.Context {
	if l := c.linked.Load(); l != nil {
		return l.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.linked.Load(); l != nil {
		return l.ctx
	}
	ctx, cancel := context.WithCancelCause(c.Context)
	l := &link{ctx: ctx, cancel: cancel, stop: func() bool { return false }}
	follow := func() { cancel(context.Cause(c.caller)) } // the caller's cause, not just Canceled
	switch {
	case c.returned && c.kept == 0:
		cancel(nil) // fn is gone, and no Go work keeps it
	case c.returned: // the Call is over: only the loop's context counts
	default:
		l.stop = context.AfterFunc(c.caller, follow)
		if c.caller.Err() != nil {
			follow() // at once, not on AfterFunc's goroutine: Err agrees with Done
		}
	}
	c.linked.Store(l)
	return ctx
}

// Done is closed when the loop's context or the caller's is done.
func (c *callCtx) Done() <-chan struct{} { return c.link().Done() }

// Err is the loop's context's error, else the caller's. Once the caller is
// done it makes the link (cancelled at once, with the caller's cause), if
// fn has not: context.Cause asks Err first, then looks the cause up with
// Value, which then finds the link's, so that Err and Cause agree.
func (c *callCtx) Err() error {
	if l := c.linked.Load(); l != nil {
		return l.ctx.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err // Cause finds the loop's cause in the loop's context
	}
	if c.caller.Err() != nil {
		return c.link().Err()
	}
	return nil
}

// Value looks key up in the linked context once there is one, so that
// context.Cause sees its cancellation; before, in the loop's.
func (c *callCtx) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return c
	}
	if l := c.linked.Load(); l != nil {
		return l.ctx.Value(key)
	}
	return c.Context.Value(key)
}

// AfterFunc lets contexts derived from c register with it directly
// instead of watching it from a goroutine of their own.
func (c *callCtx) AfterFunc(f func()) func() bool { return context.AfterFunc(c.link(), f) }

// keep marks Go work started from fn: c is not cancelled when fn returns
// until the returned function has been called.
func (c *callCtx) keep() (done func()) {
	c.mu.Lock()
	c.kept++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.kept--; c.kept == 0 && c.returned {
			c.unlink()
		}
	}
}

// release marks fn returned: it unlinks c from the caller, and from the
// loop too unless Go work started from fn still runs.
func (c *callCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.returned = true
	l := c.linked.Load()
	if l == nil {
		return
	}
	l.stop()
	if c.kept == 0 {
		c.unlink()
	}
}

// unlink cancels the link, under mu.
func (c *callCtx) unlink() {
	if l := c.linked.Load(); l != nil {
		l.cancel(nil)
	}
}

// Go starts fn on a goroutine of its own, from code running on a loop, and
// delivers then(result, err) back on that loop when fn returns, so the loop
// never blocks (protoactor's ReenterAfter). The work belongs to the loop, not
// to the callback that started it: it lives until fn returns, ctx is
// cancelled or the loop ends, even if it was started from a callback that a
// [Call] runs and that has returned. fn runs under the offload [Limiter]. If
// ctx is cancelled first, then runs at once with ctx's error and fn's late
// result is dropped; if the loop ends first, with [ErrLoopClosed]; either way
// then runs exactly once. Called while the loop is draining after its end,
// Go starts nothing and runs then at once with [ErrLoopClosed]. A panic in fn
// reaches then as a [*nursery.PanicError], and a fn that calls
// [runtime.Goexit] an error saying so (its limiter slot given back). The loop's Run waits for fn
// before it returns. Go panics when ctx is not on a loop.
func Go[T any](ctx context.Context, fn func(ctx context.Context) (T, error), then func(T, error)) {
	f := frameOf(ctx)
	if f == nil || f.loop == nil {
		panic("bridge: Go called from code that is not running on a loop")
	}
	l := f.loop
	l.mu.Lock()
	ended := l.ended
	l.mu.Unlock()
	if ended { // called while the loop drains: nothing may outlive it
		var zero T
		then(zero, fmt.Errorf("%w: %s", ErrLoopClosed, l))
		return
	}
	unkeep := func() {}
	if cc, ok := ctx.Value(callKey{}).(*callCtx); ok {
		unkeep = cc.keep() // the Call's fn may return before fn does
	}
	var once sync.Once
	deliver := func(v T, err error) {
		once.Do(func() { _ = l.Post(func(context.Context) { then(v, err) }) })
	}
	wctx, cancel := context.WithCancel(withFrame(ctx, frame{sync: f.sync, origin: l, held: f.held}))
	l.mu.Lock()
	l.seq++
	key := l.seq
	if l.cancels == nil {
		l.cancels = map[uint64]context.CancelFunc{}
	}
	l.cancels[key] = cancel // the loop's end cancels the work
	l.mu.Unlock()
	forget := func() {
		l.mu.Lock()
		delete(l.cancels, key)
		l.mu.Unlock()
	}
	cancelled := make(chan struct{}) // closed once the cancel's then is posted
	stop := context.AfterFunc(wctx, func() {
		defer close(cancelled)
		var zero T
		err := context.Cause(ctx)
		if err == nil { // the loop ended (Stop), not the caller's ctx
			err = fmt.Errorf("%w: %s", ErrLoopClosed, l)
		}
		deliver(zero, err)
	})
	l.work.Add(1)
	go func() {
		defer l.work.Done()
		defer unkeep()
		defer forget()
		defer cancel()
		var v T
		var err error
		returned := false
		// Deferred, so that a fn that calls runtime.Goexit still gives its
		// slot back and delivers (before cancel, which would report the
		// loop's end instead).
		defer func() {
			if !returned {
				v, err = *new(T), errGoGoexit
			}
			if stop() { // ctx had not fired: the result is the news
				deliver(v, err)
			} else {
				<-cancelled // the loop's Run waits for this goroutine, so for the post too
			}
		}()
		held, taken, aerr := acquire(wctx, nil, nil)
		if err = aerr; err == nil {
			defer taken.release()
			if pe := try(func() { v, err = fn(holding(wctx, held)) }); pe != nil {
				err = pe
			}
		}
		returned = true
	}()
}
