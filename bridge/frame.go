package bridge

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// loopKey is the key under which a ctx carries its frame.
type loopKey struct{}

// frame is what a ctx knows about the loops around it: the loop it is on,
// the RunSync calls it runs inside of, and the limiter slots it holds.
type frame struct {
	loop   *Loop     // the loop the code runs on; nil off a loop
	sync   *syncWait // the innermost RunSync this code runs inside of, if any
	origin *Loop     // off a loop: the loop whose callback started this work
	held   *slot     // the limiter slots this work holds, innermost first
}

// slot is a limiter slot that a work holds, in a list of them: nested work
// of the same limiter shares its slot.
type slot struct {
	lim  *Limiter
	next *slot
}

// has reports whether the list holds a slot of lim. The list is as long as
// the number of distinct limiters nested, not as the nesting.
func (s *slot) has(lim *Limiter) bool {
	for ; s != nil; s = s.next {
		if s.lim == lim {
			return true
		}
	}
	return false
}

// syncWait is a RunSync that blocks loop until its work is done.
type syncWait struct {
	loop   *Loop
	pc     uintptr // where RunSync was called, for ErrLoopBlocked
	lim    *Limiter
	parent *syncWait
	ended  atomic.Bool   // set under loop.mu when RunSync returns
	wake   chan struct{} // its worker's, on which it waits; set under loop.mu
}

// site names the code that called RunSync.
func (w *syncWait) site() string {
	frame, _ := runtime.CallersFrames([]uintptr{w.pc}).Next()
	if frame.File == "" {
		return "an unknown place"
	}
	return fmt.Sprintf("%s:%d", frame.File, frame.Line)
}

// frameCtx is a ctx carrying a frame. Nesting puts one on another at every
// level (a RunSync's work on its caller's loop, its fresh loop on the work,
// and so on), so a frameCtx made on a frameCtx takes the other's place
// instead of wrapping it: Done, Err, Deadline and the Values of other keys
// go straight to the ctx below every bridge layer, and the bridge's own keys
// are answered at once. A lookup costs the same at any depth.
type frameCtx struct {
	below context.Context // the ctx under the bridge's layers
	f     *frame
	lim   *Limiter // the limiter that below sets (WithLimiter), nil for the default
	own   frame    // what f points to: the frame and its ctx are one allocation
}

// withFrame returns ctx carrying f.
func withFrame(ctx context.Context, f frame) context.Context {
	c := new(frameCtx)
	c.init(ctx, f)
	return c
}

// init makes c, in place, ctx carrying f: RunSync and Loop keep theirs
// inside allocations they make anyway.
func (c *frameCtx) init(ctx context.Context, f frame) {
	if b, ok := ctx.(*frameCtx); ok {
		c.below, c.lim = b.below, b.lim
	} else {
		c.below = ctx
		c.lim, _ = ctx.Value(limiterKey{}).(*Limiter)
	}
	c.own = f
	c.f = &c.own
}

func (c *frameCtx) Deadline() (time.Time, bool) { return c.below.Deadline() }
func (c *frameCtx) Done() <-chan struct{}       { return c.below.Done() }
func (c *frameCtx) Err() error                  { return c.below.Err() }

func (c *frameCtx) Value(key any) any {
	switch key.(type) {
	case loopKey:
		return c.f
	case limiterKey:
		if c.lim == nil {
			return nil
		}
		return c.lim
	}
	return c.below.Value(key)
}

// AfterFunc lets contexts derived from c register with the ctx below
// directly.
func (c *frameCtx) AfterFunc(f func()) func() bool { return context.AfterFunc(c.below, f) }

func (c *frameCtx) String() string { return fmt.Sprint(c.below) + ".WithBridgeFrame" }

func frameOf(ctx context.Context) *frame {
	f, _ := ctx.Value(loopKey{}).(*frame)
	return f
}

// holding returns ctx for work that holds the slots held: off a loop,
// inside the same RunSync calls as ctx.
func holding(ctx context.Context, held *slot) context.Context {
	f := frame{held: held}
	if p := frameOf(ctx); p != nil {
		f.sync, f.origin = p.sync, p.origin
	}
	return withFrame(ctx, f)
}

// OffLoop returns ctx for a goroutine that a callback starts by hand: it
// keeps ctx's values and cancellation but is no longer on the loop, while it
// still knows the loop it came from (so the deadlock guards keep working).
func OffLoop(ctx context.Context) context.Context {
	f := frameOf(ctx)
	if f == nil || f.loop == nil {
		return ctx
	}
	return withFrame(ctx, frame{sync: f.sync, origin: f.loop, held: f.held})
}

// Current returns the loop the code holding ctx runs on, or nil.
func Current(ctx context.Context) *Loop {
	if f := frameOf(ctx); f != nil {
		return f.loop
	}
	return nil
}
