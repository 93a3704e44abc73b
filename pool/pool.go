package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sourcegraph/conc/panics"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/rss"
	"github.com/grove-rt/grove/nursery"
)

// A Pool runs tasks on a set of worker processes. It is safe for
// concurrent use. Create it with [New] (standalone, ended by
// [Pool.Shutdown] or [Pool.Close]) or [Start] (a task of a nursery).
type Pool struct {
	cfg    config
	ctx    context.Context // the pool's nursery: workers and their tasks
	n      *nursery.Nursery
	ended  chan struct{} // closed when the pool's nursery has returned
	endErr error

	mu       sync.Mutex
	queue    []*task
	size     int                // the target number of workers
	live     int                // workers alive or starting
	leaving  int                // of live, workers that have decided to exit
	refs     map[*actor.Ref]int // live workers and their task counts
	closed   bool               // Shutdown or Close was called, or Shared replaced the pool
	closeErr error              // ...and what later submits get: ErrShutdown, or errReplaced
	killing  bool               // ...by Close
	broken   error
	deaths   []time.Time
	seq      int
	stop     chan struct{} // closed by Shutdown or a break: ends the pool's body
	stopOnce sync.Once
	wake     chan struct{} // a task was queued; capacity bounds tokens
	batched  chan struct{} // a batch was queued, for a busy worker to send behind its own
}

// task is one unit of work: a call, or a batch of calls, of Map.
type task struct {
	ctx context.Context
	// run runs the task on a worker whose nursery's ctx is ctx; it returns
	// the worker's death, if the worker died under it. It completes the
	// task's futures, but for the work that never started (or whose results
	// the death lost): that it requeues, for another worker.
	run func(ctx context.Context, ref *actor.Ref) error
	// start, for a batch of Map (nil otherwise), is run in two steps: it
	// sends the batch, queued in the worker behind the batch in behind, and
	// returns its slot and what waits for it, which does what run does.
	start func(ctx context.Context, ref *actor.Ref, behind actor.BatchSlot) (actor.BatchSlot, func() error)
	// fail completes the task's futures with err, unrun. It never blocks
	// and never takes the pool's lock, so it may be called under it.
	fail func(err error)
}

// New starts a standalone pool. Workers are spawned on demand, up to the
// worker count, as tasks arrive. The pool lives until [Pool.Shutdown] or
// [Pool.Close], or until ctx is cancelled (which kills its workers). A nil
// ctx is an error.
func New(ctx context.Context, opts ...Option) (*Pool, error) {
	if ctx == nil {
		return nil, errors.New("pool: New: nil ctx: pass the ctx the pool lives under (or context.Background())")
	}
	p := newPool(newConfig(opts))
	ready := make(chan struct{})
	go func() {
		p.endErr = nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			p.ctx, p.n = ctx, n
			close(ready)
			return p.body(ctx)
		})
		p.failAll(ErrShutdown)
		close(p.ended)
	}()
	<-ready
	return p, nil
}

// Start starts a pool as a task of n: its workers are then part of n's
// tree, cancelling n kills them, and a broken pool fails n. End it with
// [Pool.Shutdown] or [Pool.Close] when done, or cancel n. A nil n is an
// error.
func Start(n *nursery.Nursery, opts ...Option) (*Pool, error) {
	if n == nil {
		return nil, errors.New("pool: Start: nil *nursery.Nursery: start the pool in the body of nursery.Run, with the nursery it is given")
	}
	p := newPool(newConfig(opts))
	return nursery.Start(n, func(ctx context.Context, started func(*Pool)) error {
		defer close(p.ended)
		defer p.failAll(ErrShutdown)
		return nursery.Run(ctx, func(ctx context.Context, inner *nursery.Nursery) error {
			p.ctx, p.n = ctx, inner
			started(p)
			return p.body(ctx)
		})
	})
}

func newPool(cfg config) *Pool {
	return &Pool{
		cfg:     cfg,
		size:    cfg.workers,
		refs:    map[*actor.Ref]int{},
		ended:   make(chan struct{}),
		stop:    make(chan struct{}),
		wake:    make(chan struct{}, 1024),
		batched: make(chan struct{}, 1),
	}
}

// body waits until Shutdown or Close, then lets the workers drain; a
// broken pool returns its error.
func (p *Pool) body(ctx context.Context) error {
	defer p.observeQueue()()
	select {
	case <-p.stop:
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken != nil && !p.closed {
		return p.broken
	}
	return nil
}

// enqueue queues t, starting a worker if the pool has fewer than it may.
func (p *Pool) enqueue(t *task) { p.add(t, nil) }

// requeue puts back, at the head of the queue, a task whose worker died
// (death) before it began, or, for a batch, the items of it that never
// began or whose results died unsent with the worker (at most 5 ms
// of work: those run again). Unlike enqueue it is accepted during a
// Shutdown, which drains the queue.
func (p *Pool) requeue(t *task, death error) { p.add(t, death) }

// add is enqueue, or requeue when death is not nil.
func (p *Pool) add(t *task, death error) {
	p.mu.Lock()
	var err error
	switch {
	case p.broken != nil:
		err = p.broken
	case death != nil && (p.killing || p.ctx.Err() != nil):
		err = fmt.Errorf("%w: %w", ErrShutdown, death)
	case death == nil && p.closed:
		err = p.closeErrLocked()
	case death == nil && p.ctx.Err() != nil:
		err = ErrShutdown
	}
	if err != nil {
		p.mu.Unlock()
		t.fail(err)
		return
	}
	if death != nil {
		p.queue = slices.Insert(p.queue, 0, t)
	} else {
		p.queue = append(p.queue, t)
	}
	p.growLocked()
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default: // enough tokens pending: every worker will look at the queue
	}
	if t.start != nil {
		select {
		case p.batched <- struct{}{}:
		default: // a token is pending
		}
	}
}

// growLocked starts workers while there is queued work and room for them,
// unless the pool is broken, being killed, or its nursery is ending.
func (p *Pool) growLocked() {
	if p.broken != nil || p.killing || p.ctx.Err() != nil {
		return
	}
	for p.live < p.size && p.live-p.busyLocked() < len(p.queue) {
		p.live++
		p.seq++
		name := "pool-worker-" + strconv.Itoa(p.seq)
		p.n.Go(func(ctx context.Context) error { p.worker(ctx, name); return nil })
	}
}

// busyLocked counts the workers running a task.
func (p *Pool) busyLocked() int {
	busy := 0
	for _, state := range p.refs {
		if state < 0 {
			busy++
		}
	}
	return busy
}

// worker owns one worker process: it spawns it, runs tasks on it until it
// is idle too long, retired, replaced or dead, and then accounts for it.
func (p *Pool) worker(ctx context.Context, name string) {
	// leave counts the worker as leaving, once: at the latest when its
	// body returns, and at once, under the same lock, when it takes a
	// retirement (so that no other worker retires for the same excess).
	left := false
	leave := func() { // under p.mu
		if !left {
			left = true
			p.leaving++
		}
	}
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		var ref *actor.Ref
		defer func() {
			p.mu.Lock()
			delete(p.refs, ref)
			leave()
			p.mu.Unlock()
		}()
		opts := append(slices.Clone(p.cfg.actorOpts), actor.WithEnv(p.cfg.env...))
		ref, err := actor.Spawn(ctx, n, name, opts...)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.refs[ref] = 0
		killing := p.killing
		p.mu.Unlock()
		if killing { // Close came during the spawn, after its kills
			ref.Kill()
			return nil
		}
		if p.cfg.init != nil {
			if err := p.cfg.init.run(ctx, ref); err != nil {
				if died(ref, err) {
					return err
				}
				ref.Cancel()
				return &InitError{Err: err}
			}
		}
		// ahead is a batch sent to the worker and not yet waited for: the
		// worker's next batch is sent behind it, before it ends (at most
		// one queued behind the running one), so the worker goes from one
		// to the next without idling for a round trip.
		var ahead *started
		for done := 0; ; {
			if ahead == nil {
				t := p.next(ctx, ref, leave)
				if t == nil {
					ref.Cancel()
					return nil
				}
				if t.start != nil {
					if ahead = p.start(t, ctx, ref, actor.BatchSlot{}); ahead != nil {
						continue
					}
				} else if err := p.run(ctx, t, ref); err != nil {
					return err // the worker died under its task
				}
			} else {
				next, err := p.waitBehind(ctx, ref, ahead)
				if ahead = next; err != nil || ctx.Err() != nil {
					if ahead != nil {
						_ = p.wait(ahead) // it never began: requeued, or failed if the pool is ending
					}
					return err // the worker died under its batch (its nursery says how), or the pool is ending
				}
			}
			if ctx.Err() != nil {
				return nil // the worker died (its nursery says how) or the pool is ending
			}
			if ahead == nil {
				p.mu.Lock()
				p.refs[ref] = 0
				p.mu.Unlock()
			}
			done++
			if p.cfg.maxTasks > 0 && done >= p.cfg.maxTasks ||
				p.cfg.maxRSS > 0 && rss.Of(ref.PID()) > p.cfg.maxRSS {
				if ahead != nil {
					if err := p.wait(ahead); err != nil {
						return err
					}
				}
				ref.Cancel() // replaced by a fresh worker on demand
				return nil
			}
		}
	})
	p.workerEnded(err)
}

// run runs t on ref. A panic in the caller's own code that the task runs
// here (an argument's EncodeMsgpack, a result's DecodeMsgpack) fails what
// is left of the task with a [*nursery.PanicError]; the worker serves on.
func (p *Pool) run(ctx context.Context, t *task, ref *actor.Ref) (err error) {
	if rec := panics.Try(func() { err = t.run(ctx, ref) }); rec != nil {
		t.fail(&nursery.PanicError{Value: rec.Value, Stack: rec.Stack})
		return nil
	}
	return err
}

// A started task is a batch sent to a worker, to wait for.
type started struct {
	t    *task
	slot actor.BatchSlot
	wait func() error
}

// start sends batch t to ref, queued behind behind; a panic in the
// caller's own code that it runs (an argument's EncodeMsgpack) fails t, as
// in run, and start returns nil.
func (p *Pool) start(t *task, ctx context.Context, ref *actor.Ref, behind actor.BatchSlot) *started {
	s := &started{t: t}
	if rec := panics.Try(func() { s.slot, s.wait = t.start(ctx, ref, behind) }); rec != nil {
		t.fail(&nursery.PanicError{Value: rec.Value, Stack: rec.Stack})
		return nil
	}
	return s
}

// wait waits for a started batch, as run runs a task.
func (p *Pool) wait(s *started) (err error) {
	if rec := panics.Try(func() { err = s.wait() }); rec != nil {
		s.t.fail(&nursery.PanicError{Value: rec.Value, Stack: rec.Stack})
		return nil
	}
	return err
}

// waitBehind waits for the batch ahead on ref and, until it ends, for a
// batch to send behind it (one at most); it returns ahead's error and the
// batch it sent. The wait runs in a goroutine of its own, which waitBehind
// joins before it returns, while it watches the queue.
func (p *Pool) waitBehind(ctx context.Context, ref *actor.Ref, ahead *started) (*started, error) {
	if t := p.nextBatch(ref); t != nil {
		return p.start(t, ctx, ref, ahead.slot), p.wait(ahead)
	}
	done := make(chan error, 1)
	go func() { done <- p.wait(ahead) }()
	for {
		select {
		case err := <-done:
			return nil, err
		case <-p.batched:
			if t := p.nextBatch(ref); t != nil {
				next := p.start(t, ctx, ref, ahead.slot)
				return next, <-done
			}
		}
	}
}

// nextBatch returns the task at the head of the queue, for a worker that
// runs a batch, if it is a batch and no other worker is idle to take it;
// nil otherwise, at once.
func (p *Pool) nextBatch(ref *actor.Ref) *task {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 && p.live-p.leaving <= p.size && p.live-p.busyLocked() <= 0 {
		t := p.queue[0]
		if t.start == nil {
			return nil
		}
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if t.ctx.Err() != nil { // cancelled while queued
			t.fail(context.Cause(t.ctx))
			continue
		}
		return t
	}
	return nil
}

// next waits for the next task for ref, or returns nil when the worker
// should exit: idle too long, retired by a shrink, or the pool is ending.
// A worker retires while more workers stay than the pool's size, calling
// leave (under p.mu) as it decides to.
func (p *Pool) next(ctx context.Context, ref *actor.Ref, leave func()) *task {
	var idle <-chan time.Time
	if p.cfg.idleTimeout > 0 {
		t := time.NewTimer(p.cfg.idleTimeout)
		defer t.Stop()
		idle = t.C
	}
	for {
		p.mu.Lock()
		if ctx.Err() != nil { // the worker died: no task for it
			p.mu.Unlock()
			return nil
		}
		if p.live-p.leaving > p.size {
			leave()
			p.mu.Unlock()
			return nil
		}
		for len(p.queue) > 0 {
			t := p.queue[0]
			p.queue[0] = nil
			p.queue = p.queue[1:]
			if t.ctx.Err() != nil { // cancelled while queued
				t.fail(context.Cause(t.ctx)) // fail never blocks nor locks the pool
				continue
			}
			p.refs[ref] = -1 // busy
			p.mu.Unlock()
			return t
		}
		if p.closed || p.broken != nil {
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.stop:
		case <-idle:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// workerEnded accounts for a worker that has exited: a death counts toward
// the crash limit; a failing initializer breaks the pool; otherwise a
// replacement starts if work is waiting.
func (p *Pool) workerEnded(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live--
	p.leaving-- // it left in its body
	var ie *InitError
	var ee *actor.ExitError
	switch {
	case err == nil || p.closed || p.ctx.Err() != nil:
	case errors.As(err, &ie):
		p.breakLocked(ie)
	case errors.As(err, &ee) || err != nil:
		observeDeath(err)
		now := time.Now()
		p.deaths = append(p.deaths, now)
		for len(p.deaths) > 0 && now.Sub(p.deaths[0]) > p.cfg.crashWindow {
			p.deaths = p.deaths[1:]
		}
		if len(p.deaths) > p.cfg.crashLimit {
			p.breakLocked(fmt.Errorf("%w: %d workers died within %v, the last: %w",
				ErrBroken, len(p.deaths), p.cfg.crashWindow, err))
		}
	}
	// Replace it if work is waiting: also while a Shutdown drains the
	// queue (growLocked declines when the pool is broken or closed).
	p.growLocked()
}

// breakLocked marks the pool broken and fails the queued tasks.
func (p *Pool) breakLocked(err error) {
	if p.broken != nil {
		return
	}
	if !errors.Is(err, ErrBroken) {
		err = fmt.Errorf("%w: %w", ErrBroken, err)
	}
	p.broken = err
	queued := p.queue
	p.queue = nil
	for _, t := range queued {
		t.fail(err)
	}
	p.stopOnce.Do(func() { close(p.stop) })
}

// failAll fails whatever is still queued once the pool has ended.
func (p *Pool) failAll(err error) {
	p.mu.Lock()
	queued := p.queue
	p.queue = nil
	p.closed = true
	p.mu.Unlock()
	for _, t := range queued {
		t.fail(err)
	}
}

// Err returns nil while the pool is usable, and then why it is not: an
// error matching [ErrShutdown] or [ErrBroken].
func (p *Pool) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.broken != nil:
		return p.broken
	case p.closed:
		return p.closeErrLocked()
	}
	return nil
}

// closeErrLocked is what a submit to the closed pool gets.
func (p *Pool) closeErrLocked() error {
	if p.closeErr != nil {
		return p.closeErr
	}
	return ErrShutdown
}

// Workers returns the target number of workers.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}

// PIDs returns the process ids of the live workers.
func (p *Pool) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, 0, len(p.refs))
	for ref := range p.refs {
		pids = append(pids, ref.PID())
	}
	slices.Sort(pids)
	return pids
}

// Resize changes the number of workers in place: surviving workers keep
// running (and their pids); extra ones exit after their current task, idle
// ones first; new ones are spawned as work arrives.
func (p *Pool) Resize(n int) {
	if n < 1 {
		panic("pool: Resize needs n >= 1")
	}
	p.mu.Lock()
	p.size = n
	for range p.live - p.leaving - n { // wake idle workers to retire
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.growLocked()
	p.mu.Unlock()
}

// Shutdown stops the pool gracefully, as net/http's Server.Shutdown: later
// submits fail with [ErrShutdown] at once, and the queued and running tasks
// run to their end (a worker that dies under one is replaced, to drain the
// queue). It returns nil once every worker has exited and been reaped, also
// when a concurrent [Pool.Close] cut the drain short (the futures then say
// so). If ctx ends first, Shutdown returns ctx's error and kills nothing:
// the drain goes on, its workers still the pool's, until it ends, the ctx
// the pool lives under ends, or [Pool.Close] kills them. So a bounded
// shutdown is
//
//	if err := p.Shutdown(ctx); err != nil {
//		p.Close() // the deadline passed: kill what is left
//	}
//
// Shutdown may be called more than once, and concurrently with Close; each
// call waits as the first. A nil pool or ctx is an error that says so.
func (p *Pool) Shutdown(ctx context.Context) error {
	if p == nil {
		return errors.New("pool: Shutdown on a nil *Pool: create it with pool.New, pool.Start or pool.Shared")
	}
	if ctx == nil {
		return errors.New("pool: Shutdown: nil ctx: pass the caller's ctx (or context.Background())")
	}
	p.close(false, ErrShutdown)
	select {
	case <-p.ended:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the pool now, as net/http's Server.Close: it kills every
// worker with SIGKILL ([actor.Ref.Kill]), every queued and running task's
// future fails with an error matching [ErrShutdown], and later submits
// fail with ErrShutdown. It returns nil once every worker has been reaped,
// which a kill bounds (on the goroutine backend, a function that ignores
// its ctx is abandoned after the kill delay). Close may be called more
// than once, and concurrently with, or after, [Pool.Shutdown], whose
// waiting calls then return with it. A nil pool is an error that says so.
func (p *Pool) Close() error {
	if p == nil {
		return errors.New("pool: Close on a nil *Pool: create it with pool.New, pool.Start or pool.Shared")
	}
	p.close(true, ErrShutdown)
	<-p.ended
	return nil
}

// close refuses later submits with why (unless the pool was closed
// before), and ends the pool: with kill (Close) it kills the workers and
// fails the queued tasks with ErrShutdown; without (Shutdown, Shared's
// replacement), the workers drain the queue and exit. It does not wait for
// them, and never blocks.
func (p *Pool) close(kill bool, why error) {
	p.mu.Lock()
	if !p.closed {
		p.closed, p.closeErr = true, why
	}
	var queued []*task
	if kill {
		p.killing = true
		queued, p.queue = p.queue, nil
		for ref := range p.refs {
			ref.Kill()
		}
	}
	p.stopOnce.Do(func() { close(p.stop) })
	p.mu.Unlock()
	for _, t := range queued {
		t.fail(ErrShutdown)
	}
}

// cut returns the error of a task that failed with err on a worker whose
// nursery's ctx is ctx, when the pool cut it: ErrShutdown when Close
// killed the workers; ErrBroken (with the pool's break) when the pool broke
// and the worker died or was stopped under the task. Otherwise err.
func (p *Pool) cut(ctx context.Context, ref *actor.Ref, err error) error {
	p.mu.Lock()
	killing, broken := p.killing, p.broken
	p.mu.Unlock()
	switch {
	case killing:
		return fmt.Errorf("%w: %w", ErrShutdown, err)
	case broken != nil && (died(ref, err) || ctx.Err() != nil && errors.Is(err, context.Canceled)):
		return fmt.Errorf("%w; this task was cut: %w", broken, err)
	}
	return err
}

// died reports whether err says that ref, the task's worker, died under
// it: its own death, not one that its function relayed from an actor of
// its own further down the tree.
func died(ref *actor.Ref, err error) bool {
	var ee *actor.ExitError
	return errors.As(err, &ee) && ee.Actor.ID == ref.ID() && len(ee.Via) == 0 ||
		errors.Is(err, actor.ErrNotStarted) || errors.Is(err, actor.ErrResultLost)
}
