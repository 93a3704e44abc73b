package actor

import (
	"context"
	"sync"
)

// A batchGate queues, in the actor, a batch that its parent started
// behind another ([StartBatch] with a [BatchSlot]): it runs once the batch
// it follows has run all its items, so that the actor runs one batch at a
// time and its progress page tells the parent, after a death, exactly
// which item was running and that the queued batch never began. A queued
// batch's call is already in the actor when the one before it ends, so
// the actor goes from one to the next without waiting for a round trip.
//
// Calls of one link arrive in id order, but their handlers race: the
// batch behind may reach the gate first. It then waits until a batch with
// the id it follows, or a later one, has entered, and until the one it
// follows has left. A batch whose ctx ends while it waits gives its place
// to the one it waited for: a batch queued behind it then waits for that
// one.
type batchGate struct {
	mu        sync.Mutex
	entered   uint64              // the highest id of a batch that entered
	running   map[uint64]struct{} // the batches between enter and leave
	abandoned map[uint64]uint64   // a batch that gave up waiting: the one it waited for
	changed   chan struct{}       // closed, and replaced, when any changes; nil when no one waits
}

// enter waits until batch id, queued behind batch after (0: none), may
// run, or until ctx ends (then it returns ctx's error and the batch must
// not run); leave must follow a nil error.
func (g *batchGate) enter(ctx context.Context, id, after uint64) error {
	g.mu.Lock()
	for {
		for {
			ahead, ok := g.abandoned[after]
			if !ok {
				break
			}
			delete(g.abandoned, after) // only the batch behind it asks
			after = ahead
		}
		if after == 0 || after >= id {
			break
		}
		_, busy := g.running[after]
		if g.entered >= after && !busy {
			break
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			g.mu.Lock()
			if g.abandoned == nil {
				g.abandoned = map[uint64]uint64{}
			}
			g.abandoned[id] = after
			g.wakeLocked()
			g.mu.Unlock()
			return ctx.Err()
		}
		g.mu.Lock()
	}
	for k := range g.abandoned { // none behind them can come any more
		if k < id {
			delete(g.abandoned, k)
		}
	}
	if g.running == nil {
		g.running = map[uint64]struct{}{}
	}
	g.running[id] = struct{}{}
	g.entered = max(g.entered, id)
	g.wakeLocked()
	g.mu.Unlock()
	return nil
}

// leave notes that batch id has ended.
func (g *batchGate) leave(id uint64) {
	g.mu.Lock()
	delete(g.running, id)
	g.wakeLocked()
	g.mu.Unlock()
}

func (g *batchGate) wakeLocked() {
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}
