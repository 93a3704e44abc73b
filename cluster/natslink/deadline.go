package natslink

import (
	"sync"
	"time"
)

// deadline is a read or write deadline that a blocked call can select on,
// as net.Pipe's: the channel is closed when the deadline passes, and a new
// one is made when the deadline moves into the future.
//
// Each set or stop starts a new generation: a timer closes the channel
// only if its generation is still the current one, so set never waits for
// a timer that fired or was stopped (a set after stop used to wait for a
// close that never came).
type deadline struct {
	mu     sync.Mutex
	gen    uint64        // the generation of the timer, bumped by set and stop
	timer  *time.Timer   // the current generation's timer, nil if none
	cancel chan struct{} // closed when the deadline passes
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		gen := d.gen
		d.timer = time.AfterFunc(dur, func() { d.fire(gen) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// fire closes the channel if gen's timer is still the current one.
func (d *deadline) fire(gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if gen != d.gen {
		return // stopped or replaced while it was firing
	}
	d.timer = nil
	if !isClosed(d.cancel) {
		close(d.cancel)
	}
}

// stopLocked ends the current generation and its timer.
func (d *deadline) stopLocked() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// wait returns a channel closed when the deadline has passed.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// stop releases the timer (Close).
func (d *deadline) stop() {
	d.mu.Lock()
	d.stopLocked()
	d.mu.Unlock()
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
