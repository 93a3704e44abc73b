package transport

import (
	"context"
	"errors"
	"sync"
)

// errQueueDone is returned by pop once the queue is closed and drained, or
// when done fires with nothing queued.
var errQueueDone = errors.New("transport: queue done")

// queue is an unbounded FIFO with a blocking pop. Pushes never block, so
// the reader can hand messages to any stream without waiting on it; what
// bounds a queue is the protocol (credits, the stream limit).
//
// A queue filled by a connection's reader (rd set) has poppers that read:
// a pop that would wait takes the connection's read token when it is free
// and reads frames itself until one is for this queue (see reading).
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	head   int
	closed bool
	signal chan struct{} // capacity 1: "items may be waiting", or "the read token is yours"; made by the first popper that parks
	woken  bool          // a wake-up came before signal was made
	first  [2]T          // items' first backing array: most streams never need another
	// split, when set, takes the next item out of a head that holds many
	// (a Batch): it returns the item and whether the head holds more.
	split func(head T) (item T, more bool)

	rd   *reading // the connection whose reader fills the queue, or nil
	link waitLink // the popper's place among rd's wanters
}

// init makes the queue; rd, if not nil, is the connection whose frames
// fill it.
func (q *queue[T]) init(rd *reading) {
	q.items = q.first[:0]
	q.rd = rd
	q.link.w = q
}

// ready reports whether a pop would not wait.
func (q *queue[T]) ready() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head < len(q.items) || q.closed
}

func (q *queue[T]) wake() {
	q.mu.Lock()
	q.wakeLocked()
	q.mu.Unlock()
}

func (q *queue[T]) wakeLocked() {
	if q.signal == nil {
		q.woken = true
		return
	}
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// push appends v; it reports false if the queue was closed.
func (q *queue[T]) push(v T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, v)
	q.wakeLocked()
	q.mu.Unlock()
	if q.rd != nil && q.link.in.Load() {
		q.rd.satisfied.Store(true)
	}
	return true
}

// close ends the queue: pops drain what is left, then fail. A popper
// blocked reading the connection for it is interrupted.
func (q *queue[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.wakeLocked()
	q.mu.Unlock()
	if q.rd != nil {
		q.rd.interrupt()
	}
}

// isClosed reports whether close was called.
func (q *queue[T]) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// tryPopLocked takes the first item, if any. Call with q.mu held.
func (q *queue[T]) tryPopLocked() (v T, ok bool) {
	if q.head == len(q.items) {
		return v, false
	}
	v = q.items[q.head]
	if q.split != nil {
		item, more := q.split(v)
		if more {
			return item, true
		}
		v = item
	}
	q.dropHeadLocked()
	return v, true
}

// dropHeadLocked removes the first item. Call with q.mu held and an item
// queued.
func (q *queue[T]) dropHeadLocked() {
	var zero T
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 32 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// pop waits for an item, honouring ctx. When done fires, or the queue is
// closed, it still returns what is queued, then errQueueDone. While it
// would wait, it reads the connection itself if no one else does (see
// reading).
func (q *queue[T]) pop(ctx context.Context, done <-chan struct{}) (v T, err error) {
	wanting := false // registered among rd's wanters
	defer func() {
		if wanting {
			q.rd.leave(&q.link)
		}
	}()
	for {
		q.mu.Lock()
		v, ok := q.tryPopLocked()
		more, closed := q.head < len(q.items), q.closed
		q.mu.Unlock()
		if ok {
			if more {
				q.wake() // pass the signal on to another waiting popper
			}
			return v, nil
		}
		if closed {
			q.wake()
			return v, errQueueDone
		}
		if q.rd != nil {
			if q.rd.take(&q.link) {
				wanting = false
				if err := q.rd.readFor(ctx, q); err != nil {
					return v, err
				}
				continue
			}
			wanting = true
		}
		q.mu.Lock()
		if q.woken || q.head < len(q.items) || q.closed {
			q.woken = false
			q.mu.Unlock()
			continue
		}
		if q.signal == nil {
			q.signal = make(chan struct{}, 1)
		}
		signal := q.signal
		q.mu.Unlock()
		select {
		case <-signal:
		case <-ctx.Done():
			return v, ctx.Err()
		case <-done:
			q.mu.Lock()
			v, ok := q.tryPopLocked()
			q.mu.Unlock()
			if ok {
				return v, nil
			}
			return v, errQueueDone
		}
	}
}
