package transport

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// errQueueDone is returned by pop once the queue is closed and drained, or
// when done fires with nothing queued.
var errQueueDone = errors.New("transport: queue done")

// queue is an unbounded FIFO with a blocking pop. Pushes never block, so
// the read loop can hand messages to any stream without waiting on it;
// what bounds a queue is the protocol (credits, the stream limit).
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	head   int
	closed bool
	signal chan struct{} // capacity 1: "items may be waiting"
}

func (q *queue[T]) init() { q.signal = make(chan struct{}, 1) }

func (q *queue[T]) wake() {
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
	q.mu.Unlock()
	q.wake()
	return true
}

// pushN appends at(0) to at(n-1) under one lock, with one wake-up; it
// reports false if the queue was closed.
func (q *queue[T]) pushN(n int, at func(i int) T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = slices.Grow(q.items, n)
	for i := range n {
		q.items = append(q.items, at(i))
	}
	q.mu.Unlock()
	q.wake()
	return true
}

// close ends the queue: pops drain what is left, then fail.
func (q *queue[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
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
	return v, true
}

// popAvailable appends to dst the items queued, at most n, without
// waiting.
func (q *queue[T]) popAvailable(dst []T, n int) []T {
	q.mu.Lock()
	for range n {
		v, ok := q.tryPopLocked()
		if !ok {
			break
		}
		dst = append(dst, v)
	}
	more := q.head < len(q.items)
	q.mu.Unlock()
	if more {
		q.wake() // pass the signal on to another waiting popper
	}
	return dst
}

// pop waits for an item, honouring ctx. When done fires, or the queue is
// closed, it still returns what is queued, then errQueueDone.
func (q *queue[T]) pop(ctx context.Context, done <-chan struct{}) (T, error) {
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
		select {
		case <-q.signal:
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
