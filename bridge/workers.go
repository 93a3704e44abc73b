package bridge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// maxIdle bounds the parked workers a pool keeps. More RunSync calls than
// that may run at once (one worker each, nested ones included); a worker
// handed back when the pool is full exits instead of parking.
const maxIdle = 16

// errGoexit is RunSync's error when its fn called runtime.Goexit, which
// ends the goroutine it runs on instead of returning.
var errGoexit = errors.New("bridge: RunSync's fn called runtime.Goexit instead of returning (t.FailNow from a goroutine, for instance)")

// errGoGoexit is the error delivered to then when the fn of [Go] called
// runtime.Goexit.
var errGoGoexit = errors.New("bridge: Go's fn called runtime.Goexit instead of returning (t.FailNow from a goroutine, for instance)")

// errCallGoexit is a Call's error when its fn called runtime.Goexit, which
// ends the loop's goroutine (the loop runs nothing more).
var errCallGoexit = errors.New("bridge: Call's fn called runtime.Goexit on the loop instead of returning, which ended the loop's goroutine (t.FailNow on a loop, for instance): return an error from fn instead")

// workers is the pool of parked goroutines that run the work of RunSync
// calls made on a root loop (one its owner runs) and on the fresh loops
// nested under it, the way the Go runtime keeps idle Ms and net/http keeps
// idle connections: a worker is parked on its own channel, so handing it
// work is one channel send and getting the result one receive, the
// goroutine handoff that is RunSync's floor. A worker belongs to the pool
// while parked and to the RunSync it runs while busy; whichever holds it
// when it must stop closes its channel and waits for it to exit. The root
// loop's Run closes the pool as it returns, joining every parked worker, so
// no worker outlives the loop that made it.
type workers struct {
	mu     sync.Mutex
	idle   []*worker
	closed bool
}

// worker is one goroutine of a pool and the channels it reuses from one
// RunSync to the next: its jobs and results, and the wake-ups of the fresh
// loops it runs, which tolerate a stray token from an earlier loop (a wake
// finds an empty queue and goes back to sleep).
type worker struct {
	jobs   chan *syncJob
	wake   chan struct{} // capacity 1: the job is finished, or a Call waits for its RunSync
	exited chan struct{} // closed when the goroutine has returned
	dead   bool          // the work called runtime.Goexit: set before the job is finished
	signal chan struct{} // for the fresh loops' Post and Stop
}

// syncJob is the work of one RunSync: main on loop, a fresh loop, under
// ctx (the RunSync's) in frame (off the RunSync's loop, inside its wait),
// and its outcome.
type syncJob struct {
	ctx      context.Context
	frame    frame
	loop     *Loop
	main     mainFunc
	err      error       // set before finished
	finished atomic.Bool // the RunSync may read err
}

// mainFunc is the body of a fresh loop: its first callback, after which the
// loop stops.
type mainFunc interface {
	main(ctx context.Context) error
}

// get takes a parked worker, or starts one. A closed pool still starts one,
// which put then stops: a RunSync from a goroutine that kept the ctx of a
// loop that has ended works as it always did.
func (p *workers) get() *worker {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return w
	}
	p.mu.Unlock()
	w := &worker{
		jobs: make(chan *syncJob), wake: make(chan struct{}, 1), exited: make(chan struct{}),
		signal: make(chan struct{}, 1),
	}
	go w.serve()
	return w
}

// put hands w back after its job: parked, if the pool is open and not full,
// else stopped and joined.
func (p *workers) put(w *worker) {
	if !w.dead {
		p.mu.Lock()
		if !p.closed && len(p.idle) < maxIdle {
			p.idle = append(p.idle, w)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		close(w.jobs)
	}
	<-w.exited
}

// close stops and joins the parked workers; workers still busy are stopped
// by their RunSync when it is done with them.
func (p *workers) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, w := range idle {
		close(w.jobs)
	}
	for _, w := range idle {
		<-w.exited
	}
}

// serve runs jobs until w.jobs is closed. It finishes a job with a
// non-blocking send: its RunSync checks finished each time it wakes, so a
// wake-up that finds one pending is not lost.
func (w *worker) serve() {
	var busy *syncJob
	defer func() {
		if busy != nil { // the work called runtime.Goexit, ending this goroutine
			w.dead = true
			busy.err = errGoexit
			busy.finished.Store(true)
			wake(w.wake)
		}
		close(w.exited)
	}()
	for j := range w.jobs {
		busy = j
		j.err = j.loop.runMain(j.ctx, j.frame, j.main)
		busy = nil
		j.finished.Store(true)
		wake(w.wake)
	}
}
