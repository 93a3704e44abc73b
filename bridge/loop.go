package bridge

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sourcegraph/conc/panics"

	"github.com/grove-rt/grove/nursery"
)

// A Loop runs callbacks one at a time on one goroutine, in the order they
// were posted. Create it with [NewLoop] and run it with [Loop.Run].
type Loop struct {
	name       string
	lockThread bool

	mu      sync.Mutex
	queue   []func(context.Context)
	spare   []func(context.Context) // the last batch's slice, emptied
	started bool
	ended   bool
	signal  chan struct{} // capacity 1: callbacks may be waiting
	stop    chan struct{}
	once    sync.Once
	work    sync.WaitGroup                // goroutines started by Go from this loop
	waiting int                           // RunSync calls this loop is blocked in (under mu)
	blocked chan struct{}                 // closed when the loop next blocks in RunSync
	cancels map[uint64]context.CancelFunc // ...and how to cancel them when it ends
	seq     uint64
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
	l := &Loop{signal: make(chan struct{}, 1), stop: make(chan struct{}), cancels: map[uint64]context.CancelFunc{}}
	for _, o := range opts {
		o(l)
	}
	return l
}

// block and unblock mark the loop blocked in a RunSync.
func (l *Loop) block() {
	l.mu.Lock()
	l.waiting++
	if l.blocked != nil {
		close(l.blocked)
		l.blocked = nil
	}
	l.mu.Unlock()
}

func (l *Loop) unblock() {
	l.mu.Lock()
	l.waiting--
	l.mu.Unlock()
}

// blockedSignal reports whether the loop is blocked in a RunSync now, and
// returns a channel closed when it next blocks.
func (l *Loop) blockedSignal() (<-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting > 0 {
		return nil, true
	}
	if l.blocked == nil {
		l.blocked = make(chan struct{})
	}
	return l.blocked, false
}

// String returns the loop's name (by default its address).
func (l *Loop) String() string {
	if l.name == "" {
		return fmt.Sprintf("loop@%p", l)
	}
	return l.name
}

// loopKey marks the ctx a loop hands to its callbacks.
type loopKey struct{}

// frame is what a ctx knows about the loops around it: the loop it is on,
// and the RunSync calls it runs inside of.
type frame struct {
	loop   *Loop
	sync   *syncWait // the innermost RunSync this ctx runs inside of, if any
	origin *Loop     // the loop whose Go started the work holding this ctx
}

// syncWait is a RunSync that blocks loop until its work is done.
type syncWait struct {
	loop   *Loop
	pc     uintptr // where RunSync was called, for ErrLoopBlocked
	done   atomic.Bool
	parent *syncWait
}

func (w *syncWait) active() bool { return !w.done.Load() }

// site names the code that called RunSync.
func (w *syncWait) site() string {
	frame, _ := runtime.CallersFrames([]uintptr{w.pc}).Next()
	if frame.File == "" {
		return "an unknown place"
	}
	return fmt.Sprintf("%s:%d", frame.File, frame.Line)
}

func frameOf(ctx context.Context) *frame {
	f, _ := ctx.Value(loopKey{}).(*frame)
	return f
}

// OffLoop returns ctx for a goroutine that a callback starts by hand: it
// keeps ctx's values and cancellation but is no longer on the loop, while it
// still knows the loop it came from (so the deadlock guards keep working).
func OffLoop(ctx context.Context) context.Context {
	f := frameOf(ctx)
	if f == nil || f.loop == nil {
		return ctx
	}
	return context.WithValue(ctx, loopKey{}, &frame{sync: f.sync, origin: f.loop})
}

// Current returns the loop the code holding ctx runs on, or nil.
func Current(ctx context.Context) *Loop {
	if f := frameOf(ctx); f != nil {
		return f.loop
	}
	return nil
}

// Run runs the loop on the calling goroutine until ctx is cancelled or
// [Loop.Stop] is called, then runs every callback already accepted and
// returns: nil after Stop, ctx's error after a cancel. A panic in a callback
// ends the loop too (after the accepted callbacks), and Run returns it as a
// [*nursery.PanicError] with the stack. Goroutines started with [Go] from the
// loop are cancelled and waited for. A loop runs once.
func (l *Loop) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return fmt.Errorf("bridge: loop %s: Run called twice", l)
	}
	l.started = true
	l.mu.Unlock()
	if l.lockThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	outer := ctx
	f := &frame{loop: l}
	if parent := frameOf(outer); parent != nil {
		f.sync, f.origin = parent.sync, parent.origin
	}
	lctx := context.WithValue(ctx, loopKey{}, f)

	var errs []error
	runAll := func() {
		batch := l.take()
		for i, fn := range batch {
			batch[i] = nil
			if err := call(lctx, fn); err != nil {
				errs = append(errs, err)
			}
		}
		l.mu.Lock()
		if l.spare == nil {
			l.spare = batch[:0] // reuse the slice for the next batch
		}
		l.mu.Unlock()
	}
serve:
	for {
		runAll()
		if len(errs) > 0 {
			break
		}
		select {
		case <-l.signal:
		case <-l.stop:
			break serve
		case <-ctx.Done():
			break serve
		}
	}
	// Cancel the work started with Go and wait for it (its results are
	// posted meanwhile), then close the queue and run what it accepted.
	l.mu.Lock()
	cancels := l.cancels
	l.cancels = map[uint64]context.CancelFunc{}
	l.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
	l.work.Wait()
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
	runAll()
	switch {
	case len(errs) > 0:
		return errors.Join(errs...)
	case outer.Err() != nil:
		return outer.Err()
	}
	return nil
}

// take empties the queue.
func (l *Loop) take() []func(context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queue
	l.queue, l.spare = l.spare, nil
	return q
}

// call runs one callback, turning a panic into a *nursery.PanicError.
func call(ctx context.Context, fn func(context.Context)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r := panics.NewRecovered(1, p)
			err = &nursery.PanicError{Value: r.Value, Stack: r.Stack}
		}
	}()
	fn(ctx)
	return nil
}

// Stop ends the loop: Run returns after the callbacks already accepted.
// It does not wait.
func (l *Loop) Stop() { l.once.Do(func() { close(l.stop) }) }

// Post queues fn to run on the loop and returns at once; it never blocks,
// from any goroutine, the loop itself included. Callbacks run in the order
// they were posted. Once the loop has ended Post returns an error matching
// [ErrLoopClosed]; every Post that returned nil runs before Run returns.
func (l *Loop) Post(fn func(ctx context.Context)) error {
	if fn == nil {
		panic("bridge: Post called with a nil fn")
	}
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrLoopClosed, l)
	}
	l.queue = append(l.queue, fn)
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
	return nil
}
