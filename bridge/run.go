package bridge

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sourcegraph/conc/panics"

	"github.com/grove-rt/grove/nursery"
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
	var mainErr error
	finished := false
	_ = l.Post(func(ctx context.Context) {
		defer l.Stop()
		mainErr = main(ctx)
		finished = true
	})
	err := l.Run(ctx)
	if finished && (err == nil || err == ctx.Err()) {
		return mainErr // main's own outcome, even if ctx ended meanwhile
	}
	return err
}

// RunSync runs fn and waits for its result, whether or not the caller is
// on a loop. From ordinary code it is [Run]. From code running on a loop it
// does not nest loops: fn runs on a dedicated goroutine with a fresh loop of
// its own, under the offload [Limiter] (see [WithLimiter]), while the
// calling loop waits. fn's result and error come back; a panic in fn comes
// back as a [*nursery.PanicError] with the stack; cancelling ctx cancels fn,
// and RunSync returns once fn has. RunSync inside RunSync works at any
// depth.
//
// While the loop waits, work inside fn that calls [Call] on it gets
// [ErrLoopBlocked] instead of a deadlock. The offload costs a goroutine and
// a loop, about a microsecond.
func RunSync[T any](ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	var v T
	body := func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	}
	f := frameOf(ctx)
	if f == nil || f.loop == nil { // not on a loop
		return v, runFresh(ctx, body)
	}
	var pc [1]uintptr
	runtime.Callers(2, pc[:])
	wait := &syncWait{loop: f.loop, pc: pc[0], parent: f.sync}
	defer wait.done.Store(true)
	f.loop.block() // from here on the loop is blocked, slot or no slot
	defer f.loop.unblock()
	wctx := context.WithValue(ctx, loopKey{}, &frame{sync: wait, origin: f.origin}) // off the loop, inside the wait
	release, err := acquire(wctx)
	if err != nil {
		return v, err
	}
	defer release()
	// The work gets a goroutine of its own; the loop's goroutine waits for
	// it (it is joined before RunSync returns).
	done := make(chan error, 1)
	go func() { done <- runFresh(holding(wctx), body) }()
	return v, <-done
}

// Call runs fn on loop l and waits for its result (Trio's
// from_thread.run). Called from l itself it runs fn inline. From other
// goroutines it waits its turn in l's queue, honouring ctx (fn then does not
// run, if it has not started; if it has, Call returns at once all the same
// and fn goes on with a cancelled ctx). fn gets a ctx that is on l and is
// cancelled with the caller's ctx, and when fn returns. If l is blocked in a RunSync whose work is the
// caller, Call returns [ErrLoopBlocked] at once instead of deadlocking; if l
// has ended, [ErrLoopClosed].
func Call[T any](ctx context.Context, l *Loop, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if f := frameOf(ctx); f != nil {
		if f.loop == l {
			return fn(ctx)
		}
		for w := f.sync; w != nil; w = w.parent {
			if w.loop == l && w.active() {
				return zero, fmt.Errorf("%w: loop %s waits in bridge.RunSync at %s for the work that calls it",
					ErrLoopBlocked, l, w.site())
			}
		}
	}
	// Work the loop started with Go may hold the offload slot that the
	// loop's RunSync waits for: waiting for the loop then could never end.
	fromLoop := false
	if f := frameOf(ctx); f != nil && f.origin == l {
		fromLoop = true
	}
	errBlocked := func() error {
		return fmt.Errorf("%w: loop %s waits in bridge.RunSync, and this work was started from it with bridge.Go",
			ErrLoopBlocked, l)
	}
	var blocked <-chan struct{}
	if fromLoop {
		var isBlocked bool
		blocked, isBlocked = l.blockedSignal()
		if isBlocked {
			return zero, errBlocked()
		}
	}
	c := &callReq[T]{ctx: ctx, fn: fn, done: make(chan struct{})}
	err := l.Post(c.run)
	if err != nil {
		return zero, err
	}
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-blocked:
		c.abandoned.Store(true)
		return zero, errBlocked()
	}
}

// callReq is one Call: the callback posted to the loop and its result, in one
// allocation.
type callReq[T any] struct {
	ctx       context.Context
	fn        func(ctx context.Context) (T, error)
	done      chan struct{} // closed when v and err are set
	v         T
	err       error
	abandoned atomic.Bool // the caller gave up: fn must not run
}

func (c *callReq[T]) run(lctx context.Context) {
	defer close(c.done)
	if c.ctx.Err() != nil || c.abandoned.Load() {
		c.err = c.ctx.Err()
		return
	}
	fctx := lctx
	if c.ctx.Done() != nil { // the caller can cancel: so can fn's ctx
		cc := &callCtx{Context: lctx, caller: c.ctx}
		defer cc.release()
		fctx = cc
	}
	defer func() {
		if p := recover(); p != nil {
			r := panics.NewRecovered(1, p)
			c.err = &nursery.PanicError{Value: r.Value, Stack: r.Stack}
		}
	}()
	c.v, c.err = c.fn(fctx)
}

// callCtx is fn's context in a Call whose caller can cancel: the loop's
// context (its values and deadline), done too when the caller's is. Linking
// the two costs a cancel context and a registration with each parent, more
// than the rest of a Call; most functions called on a loop never wait, so
// the link is made only when fn first asks for Done (or derives a context,
// which asks for it).
type callCtx struct {
	context.Context // the loop's
	caller          context.Context

	mu     sync.Mutex           // makes the link once
	linked atomic.Pointer[link] // nil until Done is first called
}

// link is the context linked to both parents, and how to unlink it.
type link struct {
	ctx    context.Context
	cancel context.CancelFunc
	stop   func() bool
}

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
	ctx, cancel := context.WithCancel(c.Context)
	l := &link{ctx: ctx, cancel: cancel, stop: context.AfterFunc(c.caller, cancel)}
	if c.caller.Err() != nil {
		cancel() // at once, not on AfterFunc's goroutine: Err agrees with Done
	}
	c.linked.Store(l)
	return ctx
}

// Done is closed when the loop's context or the caller's is done.
func (c *callCtx) Done() <-chan struct{} { return c.link().Done() }

// Err is the loop's context's error, else the caller's.
func (c *callCtx) Err() error {
	if l := c.linked.Load(); l != nil {
		return l.ctx.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	return c.caller.Err()
}

// Value looks key up in the linked context once there is one, so that
// context.Cause sees its cancellation; before, in the loop's.
func (c *callCtx) Value(key any) any {
	if l := c.linked.Load(); l != nil {
		return l.ctx.Value(key)
	}
	return c.Context.Value(key)
}

// AfterFunc lets contexts derived from c register with it directly
// instead of watching it from a goroutine of their own.
func (c *callCtx) AfterFunc(f func()) func() bool { return context.AfterFunc(c.link(), f) }

// release unlinks c from its parents once fn has returned.
func (c *callCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.linked.Load(); l != nil {
		l.stop()
		l.cancel()
	}
}

// Go starts fn on a goroutine of its own, from code running on a loop, and
// delivers then(result, err) back on that loop when fn returns, so the loop
// never blocks (protoactor's ReenterAfter). fn runs under the offload
// [Limiter]. If ctx is cancelled first, then runs at once with ctx's error
// and fn's late result is dropped; either way then runs exactly once. Called
// while the loop is draining after its end, Go starts nothing and runs then
// at once with [ErrLoopClosed]. A panic in fn reaches then as a
// [*nursery.PanicError]. The loop's Run waits for fn before it returns. Go
// panics when ctx is not on a loop.
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
	var once sync.Once
	deliver := func(v T, err error) {
		once.Do(func() { _ = l.Post(func(context.Context) { then(v, err) }) })
	}
	wctx, cancel := context.WithCancel(context.WithValue(ctx, loopKey{}, &frame{sync: f.sync, origin: l}))
	l.mu.Lock()
	l.seq++
	key := l.seq
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
		defer forget()
		defer cancel()
		var v T
		var err error
		release, err := acquire(wctx)
		if err == nil {
			if p := panics.Try(func() { v, err = fn(holding(wctx)) }); p != nil {
				err = &nursery.PanicError{Value: p.Value, Stack: p.Stack}
			}
			release()
		}
		if stop() { // ctx had not fired: the result is the news
			deliver(v, err)
		} else {
			<-cancelled // the loop's Run waits for this goroutine, so for the post too
		}
	}()
}
