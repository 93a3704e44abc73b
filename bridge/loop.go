package bridge

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// A Loop runs callbacks one at a time on one goroutine, in the order they
// were posted. Create it with [NewLoop] and run it with [Loop.Run].
type Loop struct {
	name       string
	lockThread bool
	ctx        context.Context // the ctx it hands its callbacks, once it runs
	fctx       frameCtx        // ctx's storage

	mu        sync.Mutex
	queue     []task
	spare     []task // the last batch's slice, emptied
	started   bool
	stopped   bool // Stop was called
	ended     bool
	signal    chan struct{}                 // capacity 1: callbacks may be waiting, or Stop was called
	work      sync.WaitGroup                // goroutines started by Go from this loop
	cancels   map[uint64]context.CancelFunc // ...and how to cancel them when it ends; nil until the first
	seq       uint64
	waiting   int                     // RunSync calls this loop is blocked in (under mu)
	reentry   []func(context.Context) // Calls from their work, for the innermost to run
	listening []chan struct{}         // the wake-ups of the RunSync calls blocked on the loop, for reentry
	acquiring *syncWait               // the RunSync waiting for a limiter slot, if any
	slotCalls *heldCalls              // Calls onto the loop from work holding slots; nil until the first
	pool      *workers                // runs RunSync's work; nil until the first
	ownsPool  bool                    // this loop made pool
	nested    bool                    // a RunSync's loop, on its pool (set before it runs, then read-only)
	spareCall any                     // a *callReq[T] to recycle, or nil

	// Calls whose ctx ends with the one Loop.Run runs under (its Done is
	// done) wait on a plain receive: when that ctx ends, sweep answers
	// them, queued or running, as yamux's Session.Close fails every open
	// stream, instead of each caller selecting on the ctx too.
	done    <-chan struct{} // that ctx's Done, set as Run starts; nil for other loops
	swept   bool            // sweep ran: later Calls select on their ctx
	current []task          // the batch the loop is running, for sweep (its entries are cleared by the next take)
	sweeper sync.WaitGroup  // the sweep's AfterFunc goroutine, joined by run
}

// task is one queued callback: a posted function, or a Call's record
// (queued as itself, not as a method value, which would cost an
// allocation).
type task struct {
	fn func(context.Context)
	r  runner
}

// runner is a queued record that runs on the loop.
type runner interface {
	run(ctx context.Context)
	cut() // answers a caller that waits on a plain receive, if the loop has not (see Loop.sweep)
}

// heldCalls counts the Calls waiting for a loop from work that holds
// limiter slots (see [Loop.deadlocked]).
type heldCalls struct {
	callers map[*slot]int    // per slot, the Calls from work holding it
	stuck   map[*Limiter]int // per limiter, how many of its slots such Calls hold
	changed chan struct{}    // closed when a RunSync next waits for a slot, or stuck next grows meanwhile
}

// An Option configures a Loop.
type Option func(*Loop)

// WithName names the loop in errors.
func WithName(name string) Option { return func(l *Loop) { l.name = name } }

// LockOSThread pins the loop to the OS thread that runs it, for cgo UI
// libraries that must be called from one thread.
func LockOSThread() Option { return func(l *Loop) { l.lockThread = true } }

// NewLoop returns a loop, not yet running. Posts made before Run are queued.
func NewLoop(opts ...Option) *Loop {
	l := &Loop{signal: make(chan struct{}, 1)}
	for _, o := range opts {
		o(l)
	}
	return l
}

// workers returns the pool that runs the work of the RunSync calls made on
// the loop, making it on first use. A fresh loop uses its RunSync's pool.
func (l *Loop) workers() *workers {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pool == nil {
		l.pool, l.ownsPool = &workers{}, true
	}
	return l.pool
}

// enter marks the loop blocked in the RunSync w, and leave unblocks it:
// the Calls that w's work queued and w did not run go to the RunSync the loop
// is blocked in next, or to the queue.
func (l *Loop) enter() {
	l.mu.Lock()
	l.waiting++
	l.mu.Unlock()
}

func (l *Loop) leave(w *syncWait) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w.ended.Store(true)
	l.waiting--
	if w.wake != nil {
		for i := len(l.listening) - 1; i >= 0; i-- {
			if l.listening[i] == w.wake {
				l.listening = append(l.listening[:i], l.listening[i+1:]...)
				break
			}
		}
	}
	if len(l.reentry) == 0 {
		return
	}
	if l.waiting == 0 {
		for _, fn := range l.reentry {
			l.queue = append(l.queue, task{fn: fn})
		}
		l.reentry = nil
		wake(l.signal)
		return
	}
	l.wakeListeners()
}

// listen registers wake, on which the RunSync w waits for its work, to be
// woken too when a Call from work is queued for the loop to run in it.
func (l *Loop) listen(w *syncWait, wake chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w.wake = wake
	l.listening = append(l.listening, wake)
	if len(l.reentry) > 0 {
		l.wakeListeners()
	}
}

// wakeListeners wakes the RunSync calls blocked on the loop to run the
// Calls queued for them (the innermost does; an outer one wakes to an empty
// batch when it next waits), under mu. Non-blocking sends.
func (l *Loop) wakeListeners() {
	for _, c := range l.listening {
		wake(c)
	}
}

// reenterFrom queues fn, a Call from the work of w, for the RunSync the
// loop is blocked in to run, and reports whether it did: not once w ended.
func (l *Loop) reenterFrom(w *syncWait, fn func(context.Context)) bool {
	l.mu.Lock()
	if w.ended.Load() {
		l.mu.Unlock()
		return false
	}
	l.reentry = append(l.reentry, fn)
	l.wakeListeners()
	l.mu.Unlock()
	return true
}

// serveReentry runs the Calls queued for the RunSync the loop is blocked
// in, on the loop's goroutine (which that RunSync holds).
func (l *Loop) serveReentry() {
	l.mu.Lock()
	batch := l.reentry
	l.reentry = nil
	l.mu.Unlock()
	for _, fn := range batch {
		fn(l.ctx)
	}
}

// waitingForSlot marks w, a RunSync of this loop, waiting for a limiter
// slot (now) or done waiting.
func (l *Loop) waitingForSlot(w *syncWait, now bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now {
		l.acquiring = nil
		return
	}
	l.acquiring = w
	l.notify()
}

// A Call onto the loop from work that holds limiter slots cannot end while
// the loop is blocked in a RunSync waiting for a slot, nor give its slots
// back. If every slot of the limiter that RunSync waits for is held by such
// Calls, none of them ever ends: that, and only that, is a deadlock. The
// loop counts them, per slot (work sharing a slot, nested, may call from
// several goroutines) and per limiter (distinct slots).

// callerWaits marks a Call from work holding the slots held waiting for the
// loop, and returns what [Loop.deadlocked] returns.
func (l *Loop) callerWaits(held *slot) (*syncWait, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slotCalls == nil {
		l.slotCalls = &heldCalls{callers: map[*slot]int{}, stuck: map[*Limiter]int{}}
	}
	h, grew := l.slotCalls, false
	for s := held; s != nil; s = s.next {
		if h.callers[s]++; h.callers[s] == 1 {
			h.stuck[s.lim]++
			grew = true
		}
	}
	if grew && l.acquiring != nil {
		l.notify() // the other waiting Calls look again
	}
	return l.deadlocked(held)
}

// callerDone marks a Call that callerWaits marked done waiting.
func (l *Loop) callerDone(held *slot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forget(held)
}

// forget undoes callerWaits, under mu. Fewer stuck slots cannot make a
// deadlock: no one needs to look again.
func (l *Loop) forget(held *slot) {
	h := l.slotCalls
	for s := held; s != nil; s = s.next {
		if h.callers[s]--; h.callers[s] == 0 {
			delete(h.callers, s)
			if h.stuck[s.lim]--; h.stuck[s.lim] == 0 {
				delete(h.stuck, s.lim)
			}
		}
	}
}

// stillWaits is deadlocked for a Call that callerWaits marked.
func (l *Loop) stillWaits(held *slot) (*syncWait, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadlocked(held)
}

// deadlocked returns the RunSync of this loop that waits for a slot of a
// limiter in held, if every slot of that limiter is held by Calls waiting
// for the loop: the Call from held is then refused, and forgotten at once,
// so that exactly one Call is refused per deadlock. Else it returns a
// channel closed when the answer may change. Under mu, after callerWaits.
func (l *Loop) deadlocked(held *slot) (*syncWait, <-chan struct{}) {
	h := l.slotCalls
	if w := l.acquiring; w != nil && held.has(w.lim) && h.stuck[w.lim] >= w.lim.size {
		l.forget(held)
		return w, nil
	}
	if h.changed == nil {
		h.changed = make(chan struct{})
	}
	return nil, h.changed
}

// notify wakes the Calls waiting for the loop's deadlock state to change,
// under mu.
func (l *Loop) notify() {
	if l.slotCalls != nil && l.slotCalls.changed != nil {
		close(l.slotCalls.changed)
		l.slotCalls.changed = nil
	}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// String returns the loop's name (by default its address).
func (l *Loop) String() string {
	if l.name == "" {
		return fmt.Sprintf("loop@%p", l)
	}
	return l.name
}

// Run runs the loop on the calling goroutine until ctx is cancelled or
// [Loop.Stop] is called, then runs every callback already accepted and
// returns: nil after Stop, ctx's error after a cancel. A panic in a callback
// ends the loop too (after the accepted callbacks), and Run returns it as a
// [*nursery.PanicError] with the stack (several panics come back joined).
// Goroutines started with [Go] from the loop are cancelled and waited for. A
// loop runs once. Loops do not nest: from code running on a loop (its ctx
// says so) Run refuses with an error matching [ErrLoopRunning], as [Run]
// does; use [RunSync] there, or hand a goroutine of its own [OffLoop](ctx).
func (l *Loop) Run(ctx context.Context) error {
	if f := frameOf(ctx); f != nil && f.loop != nil {
		return fmt.Errorf("%w: loop %s started from code on loop %s: use bridge.RunSync, or run it on a goroutine of its own with bridge.OffLoop(ctx)",
			ErrLoopRunning, l, f.loop)
	}
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return fmt.Errorf("bridge: loop %s: Run called twice", l)
	}
	l.started = true
	l.done = ctx.Done()
	l.mu.Unlock()
	var f frame
	if parent := frameOf(ctx); parent != nil {
		f = *parent
	}
	return l.run(ctx, f, nil)
}

// runMain runs the loop, already marked started, with main as its first
// callback, stopping the loop when main returns, and returns main's error,
// or the loop's if main did not finish (it panicked, or ctx ended first).
// The loop's frame is f (its loop set to l).
func (l *Loop) runMain(ctx context.Context, f frame, main mainFunc) error {
	var mainErr error
	finished := false
	err := l.run(ctx, f, func(ctx context.Context) {
		defer l.Stop()
		mainErr = main.main(ctx)
		finished = true
	})
	if finished && (err == nil || err == ctx.Err()) {
		return mainErr // main's own outcome, even if ctx ended meanwhile
	}
	return err
}

// run is Run once the loop is marked started, with first (if not nil) run
// before anything queued, in frame f (its loop set to l).
func (l *Loop) run(ctx context.Context, f frame, first func(context.Context)) error {
	if l.lockThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	outer := ctx
	f.loop = l
	l.fctx.init(ctx, f)
	lctx := context.Context(&l.fctx)
	l.ctx = lctx

	var errs []error
	var batch []task
	stopped, end := false, false
	runAll := func() {
		batch, stopped = l.take(batch, end)
		for _, t := range batch { // not cleared here: sweep reads the batch
			if t.r != nil {
				t.r.run(lctx) // a Call's record recovers its own panics
			} else if err := call(lctx, t.fn); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if first != nil {
		if err := call(lctx, first); err != nil {
			errs = append(errs, err)
		}
	}
	// A loop that runs until stopped (not a RunSync's, whose main returns
	// soon) has ctx's end wake it as a Post does, so that it waits on a
	// plain receive rather than a select, which costs more at every wake;
	// the same wake answers the Calls that wait on a plain receive for
	// ctx's end (sweep). If a callback ends the loop's goroutine
	// (runtime.Goexit), the sweep stays registered: those Calls are still
	// answered when ctx ends.
	done := ctx.Done()
	returned := false
	if done != nil && first == nil {
		l.sweeper.Add(1)
		stop := context.AfterFunc(ctx, func() {
			defer l.sweeper.Done()
			l.sweep()
		})
		defer func() {
			if !returned {
				return
			}
			if stop() {
				l.sweeper.Done()
			}
			l.sweeper.Wait()
		}()
		done = nil
	}
	for len(errs) == 0 {
		runAll()
		if len(errs) > 0 || stopped {
			break
		}
		if done == nil {
			<-l.signal
			if ctx.Err() == nil {
				continue
			}
		} else {
			select {
			case <-l.signal:
				continue
			case <-done:
			}
		}
		break
	}
	// Cancel the work started with Go and wait for it (its results are
	// posted meanwhile), then close the queue and run what it accepted.
	l.mu.Lock()
	cancels := l.cancels
	l.cancels = nil
	l.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
	l.work.Wait()
	end = true // the last take closes the queue
	runAll()
	if !l.nested { // nothing runs on the loop from here on: stop its RunSync workers
		l.mu.Lock()
		pool, owns := l.pool, l.ownsPool
		if pool == nil { // a RunSync from a goroutine that kept the loop's ctx gets a closed pool
			l.pool, l.ownsPool = &workers{closed: true}, true
		}
		l.mu.Unlock()
		if owns {
			pool.close()
		}
	}
	l.mu.Lock()
	clear(l.current)
	l.current = nil
	l.mu.Unlock()
	returned = true
	switch {
	case len(errs) == 1:
		return errs[0]
	case len(errs) > 1:
		return errors.Join(errs...)
	case outer.Err() != nil:
		return outer.Err()
	}
	return nil
}

// take empties the queue, handing back spent, the last batch's slice, for
// the next one, and closes it if end; it also reports whether Stop has been
// called.
func (l *Loop) take(spent []task, end bool) ([]task, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = l.ended || end
	if spent != nil {
		clear(spent)
		if l.spare == nil {
			l.spare = spent[:0] // reuse the slice for the next batch
		}
	}
	q := l.queue
	l.queue, l.spare = l.spare, nil
	l.current = q
	return q, l.stopped
}

// sweep runs once the ctx that Loop.Run runs under has ended: it answers
// the Calls that wait for it on a plain receive, queued or running (their
// callers return the ctx's error at once, as a select on it would; fn then
// does not run if it has not started), and makes later Calls select.
func (l *Loop) sweep() {
	l.mu.Lock()
	l.swept = true
	for _, t := range l.queue {
		if t.r != nil {
			t.r.cut()
		}
	}
	for _, t := range l.current {
		if t.r != nil {
			t.r.cut()
		}
	}
	l.mu.Unlock()
	wake(l.signal)
}

// call runs one callback, turning a panic into a *nursery.PanicError.
func call(ctx context.Context, fn func(context.Context)) error {
	if pe := try(func() { fn(ctx) }); pe != nil {
		return pe
	}
	return nil
}

// Stop ends the loop: Run returns after the callbacks already accepted.
// It does not wait.
func (l *Loop) Stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	wake(l.signal)
}

// Post queues fn to run on the loop and returns at once; it never blocks,
// from any goroutine, the loop itself included. Callbacks run in the order
// they were posted. Once the loop has ended Post returns an error matching
// [ErrLoopClosed]; every Post that returned nil runs before Run returns.
func (l *Loop) Post(fn func(ctx context.Context)) error {
	if fn == nil {
		panic("bridge: Post called with a nil fn")
	}
	return l.post(task{fn: fn})
}

// post queues t.
func (l *Loop) post(t task) error {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrLoopClosed, l)
	}
	l.queue = append(l.queue, t)
	l.mu.Unlock()
	wake(l.signal)
	return nil
}
