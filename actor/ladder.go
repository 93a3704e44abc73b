package actor

import (
	"container/heap"
	"sync"
	"syscall"
	"time"
)

// The cancel ladder of every actor this process is stopping runs on one
// goroutine, the sweeper: a deadline-ordered set of rungs (one per stopping
// actor, holding its next signal and when it is due) under one timer.
// When the timer fires, one sweep signals every rung that is due, so the
// SIGKILLs of fifty actors cancelled together go out in one loop rather
// than from fifty goroutines that each wait for a CPU that fifty spinning
// children share (the Go runtime's timers and the netpoller work the same
// way: one heap and one wake-up for many waiters, not a thread each).
//
// A rung's deadlines count from the start of its stop, not from the end of
// the stop message's send, which a child that does not read its link can
// hold up: SIGTERM is due the actor's grace period after its stop began,
// SIGKILL its kill delay after the sweep that sent SIGTERM (the actor gets
// its whole kill delay even from a late sweep, and the rungs of one sweep
// share their SIGKILL's deadline, so their SIGKILLs share a sweep too).
// The timer fires at the latest deadline within ladderSlack of the
// earliest (a kernel timer's slack, spent only on deadlines that are
// actually spread): the actors of a nursery, whose stops begin within
// microseconds to a few milliseconds of each other, share a sweep, and a
// set of rungs due together (the SIGKILLs of one sweep share a deadline)
// is swept at that deadline, not a slack after it. No signal is ever sent
// before its deadline, nor, timers permitting, more than ladderSlack
// after it.
//
// The sweeper is started by the stop that enters the first rung and joined
// by the stop whose rung leaves last: it does not outlive the stops it
// serves. It is process-wide, as the spawner is: signals and processes are
// the process's.
var stops ladder

// ladderSlack is how late past its deadline a signal may go out so that
// the signals due soon after it go out in the same sweep.
const ladderSlack = 5 * time.Millisecond

type ladder struct {
	mu      sync.Mutex
	due     rungHeap      // the rungs with a signal still to send, earliest first
	members int           // rungs entered and not yet left (due or not)
	sweeps  uint64        // sweeps that sent a signal, for tests
	fireAt  time.Time     // when the running sweeper's timer fires; zero if it is stopped (or not yet set)
	wake    chan struct{} // the running sweeper's: a hint that the earliest deadline moved earlier, or the window widened
	quit    chan struct{} // closed to stop the running sweeper
	done    chan struct{} // closed by the running sweeper as it returns

	swept func(quit chan struct{}) // for tests: called by a sweeper after each sweep; nil otherwise
}

// A rung is one stopping actor's place on the ladder.
type rung struct {
	send      func(syscall.Signal) bool // sends a signal without waiting on the actor; false if it had ended (nothing sent)
	slow      bool                      // send may block (a remote's round trip): run it on a goroutine of its own
	killDelay time.Duration
	at        time.Time      // when next is due
	next      syscall.Signal // SIGTERM, then SIGKILL; 0 once both are sent
	index     int            // in due; -1 when not in it
	signalled bool           // a signal was sent: read once the rung has left
	top       chan struct{}  // closed once SIGKILL has been sent
	sweeps    [2]uint64      // the sweeps that sent SIGTERM and SIGKILL, for tests
	sends     sync.WaitGroup // slow sends under way, joined by leave
}

// enter puts an actor on the ladder at now: SIGTERM due after grace, then
// SIGKILL killDelay after it. send is called from the sweep, with the
// ladder's lock held: it must not block unless slow is set. A send that
// reports the actor ended (false) takes the rung off the due set without
// counting as a signal: the actor's end is its own (a slow send's report
// is not waited for).
func (l *ladder) enter(now time.Time, grace, killDelay time.Duration, send func(syscall.Signal) bool, slow bool) *rung {
	g := &rung{send: send, slow: slow, killDelay: killDelay, at: now.Add(grace), next: syscall.SIGTERM,
		top: make(chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	heap.Push(&l.due, g)
	l.members++
	if l.quit == nil {
		// Each sweeper has its own wake-up: one still on its way out (its
		// quit closed, its last sweep under way) must not take the hint
		// meant for the one that replaces it.
		l.quit, l.done, l.wake = make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
		go l.run(l.quit, l.done, l.wake)
	} else if g.index == 0 || l.fireAt.IsZero() ||
		g.at.After(l.fireAt) && !g.at.After(l.due[0].at.Add(ladderSlack)) {
		// It is the earliest now, or it widens the window the timer
		// fires at the end of: the sweeper re-times it.
		select {
		case l.wake <- struct{}{}:
		default: // a hint is already pending
		}
	}
	return g
}

// leave takes g off the ladder: no signal is sent for it afterwards. It
// waits for g's slow sends, and, if g was the last rung, for the sweeper
// to return. It reports whether any signal was sent.
func (l *ladder) leave(g *rung) (signalled bool) {
	l.mu.Lock()
	if g.index >= 0 {
		heap.Remove(&l.due, g.index)
	}
	signalled = g.signalled
	l.members--
	var done chan struct{}
	if l.members == 0 {
		close(l.quit)
		done = l.done
		l.quit, l.done, l.wake, l.fireAt = nil, nil, nil, time.Time{}
	}
	l.mu.Unlock()
	g.sends.Wait()
	if done != nil {
		<-done
	}
	return signalled
}

// run is the sweeper: it sweeps whenever the timer fires (see window),
// or a hint says the window moved, until quit is closed.
func (l *ladder) run(quit, done, wake chan struct{}) {
	defer close(done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if next, ok := l.sweep(time.Now(), quit); ok {
			t.Reset(time.Until(next))
		} else {
			t.Stop()
		}
		if l.swept != nil {
			l.swept(quit)
		}
		select {
		case <-quit:
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// sweep sends every signal due by now, and returns when the timer is to
// fire next (see window). quit is the sweeper's: one on its way out does
// not record when its timer fires, which is no longer the ladder's.
func (l *ladder) sweep(now time.Time, quit chan struct{}) (next time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sent := false
	for len(l.due) > 0 && !l.due[0].at.After(now) {
		if !sent {
			sent = true
			l.sweeps++
		}
		g := l.due[0]
		sig := g.next
		if g.slow {
			g.sends.Add(1)
			go func() {
				defer g.sends.Done()
				g.send(sig)
			}()
		} else if !g.send(sig) { // it had ended: nothing more to send
			g.next = 0
			heap.Pop(&l.due)
			continue
		}
		g.signalled = true
		if sig == syscall.SIGTERM {
			g.sweeps[0] = l.sweeps
			g.next, g.at = syscall.SIGKILL, now.Add(g.killDelay)
			heap.Fix(&l.due, 0)
			continue
		}
		g.next, g.sweeps[1] = 0, l.sweeps
		heap.Pop(&l.due)
		close(g.top)
	}
	if len(l.due) > 0 {
		next, ok = l.due.window(), true
	}
	if quit == l.quit {
		l.fireAt = next
	}
	return next, ok
}

// window is when the timer is to fire: the latest deadline no more than
// ladderSlack after the earliest, so that every rung due within the slack
// goes out in one sweep, and no later than the last of them needs. The
// rungs due by then form a subtree at the heap's root (a child is never
// due before its parent), which it walks: O(rungs in the window).
func (h rungHeap) window() time.Time {
	return h.latest(0, h[0].at.Add(ladderSlack), h[0].at)
}

// latest returns the latest deadline, no later than bound, in the subtree
// at i, or last if none is later.
func (h rungHeap) latest(i int, bound, last time.Time) time.Time {
	if i >= len(h) || h[i].at.After(bound) {
		return last
	}
	if h[i].at.After(last) {
		last = h[i].at
	}
	return h.latest(2*i+2, bound, h.latest(2*i+1, bound, last))
}

// rungHeap orders rungs by deadline (container/heap).
type rungHeap []*rung

func (h rungHeap) Len() int           { return len(h) }
func (h rungHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h rungHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *rungHeap) Push(x any) {
	g := x.(*rung)
	g.index = len(*h)
	*h = append(*h, g)
}
func (h *rungHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	g.index = -1
	*h = old[:len(old)-1]
	return g
}
