package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Frames up to copyMax bytes are copied into shared chunks, so that many
// small frames leave in one buffer; larger frames are queued as buffers of
// their own. Either way one batch is one writev. A connection's first chunk
// is firstChunk bytes and each new one twice the last, up to chunkSize: a
// quiet connection holds 4 KiB, a busy one reuses 64 KiB chunks.
const (
	firstChunk = 4 << 10
	chunkSize  = 64 << 10
	copyMax    = 16 << 10
)

// maxQueuedControlFrames caps the control frames queued behind the write
// in flight that answer the peer's own frames: the refusals of Calls past
// the stream limit and a callee's Close without a result, each the answer
// to one Call. Control frames never wait for room, so that the read loop
// never blocks on writing; a peer that asks for them and never reads would
// otherwise grow the queue without bound. Past the cap the connection fails
// with ErrTooManyControlFrames. x/net/http2 does the same with the same
// number (maxQueuedControlFrames, after CVE-2019-9512 and CVE-2019-9514),
// and likewise counts only what it queues in answer to the peer. What this
// side sends of its own accord (a caller's Cancel) is not counted: a local
// fan-out that closes many streams behind a slow write must not fail the
// connection. Credits are not counted either: the peer's allowance grows
// only when a Credit is taken for writing, so a peer that does not read
// can make this side queue at most about two Credits per open stream.
const maxQueuedControlFrames = 10000

// frameClass says how the writer queues a frame.
type frameClass uint8

const (
	// dataFrame waits for room in the queue.
	dataFrame frameClass = iota
	// ownControl never waits and is not counted: this side's own Cancel,
	// or a Credit.
	ownControl
	// answerControl never waits and counts against maxQueuedControlFrames:
	// an answer to the peer's Call (a refusal, a callee's Close).
	answerControl
)

// writer coalesces the frames of many senders into few write syscalls.
//
// Senders queue frames; whoever holds the write token writes everything
// queued, batch after batch, until the queue is empty. Frames that arrive
// during a write go out together in the next one; nothing waits for a
// timer. The token is taken either by the write loop's goroutine (for
// stream items and control frames, so that a fast producer's items
// coalesce) or by the sender itself when the connection is idle (for frames
// that end a turn, such as a Call or a Return, so that a round trip costs no
// goroutine handoff). A sender writing for itself still honours its ctx: if
// ctx ends mid-write, a write deadline interrupts the syscall, the unwritten
// rest goes back to the front of the queue for the write loop, and the
// sender returns.
type writer struct {
	nc net.Conn

	mu            sync.Mutex
	bufs          [][]byte // queued buffers, in order
	tailOpen      bool     // the last buffer is a chunk that may take more frames
	pending       int      // bytes queued
	controls      int      // answerControl frames queued (not yet taken by a write)
	taken         []func() // run when the frames queued so far are taken for a write
	drained       chan struct{}
	free          [][]byte        // chunks to reuse
	nextChunk     int             // the size of the next chunk made
	busy          bool            // the write token is held
	idle          chan struct{}   // closed when the token is released; made by a waiter, nil if none
	holderDone    <-chan struct{} // the Done of the ctx of the sender holding the token, if any
	ctxs          ctxWatch        // runs onCtxEnd when a writing sender's ctx ends
	discarded     bool            // the connection ended: ctxs registers nothing more
	onCtxEnd      func()          // interruptHolder, made once
	owner         uint64          // increments each time the token is taken
	interrupted   bool            // a writing sender's ctx ended mid-write
	closeDeadline time.Time       // the write deadline Close set, if any

	kick chan struct{} // wakes the write loop; capacity 1

	scratch net.Buffers // the token holder's copy of a batch's headers
	spare   [][]byte    // scratch's backing array: WriteTo consumes scratch itself
	// spareBufs is the array of the batch written last, for bufs to take
	// next (double buffering: the queue fills one while the other goes
	// out). Under mu.
	spareBufs [][]byte

	batch batchTail // under mu: the last frame, if a Batch that may take more items

	// lent is a payload queued by reference (see queueTail): the caller's
	// memory, never a chunk to reuse, and copied before the token holder
	// that lent it returns without having written it.
	lent []byte
}

func newWriter(nc net.Conn) *writer {
	w := &writer{nc: nc, drained: make(chan struct{}), kick: make(chan struct{}, 1)}
	w.onCtxEnd = w.interruptHolder
	return w
}

// queue adds frame to the queue. A dataFrame first waits, while a
// megabyte is already queued, for the queue to drain, honouring ctx and
// done. Control frames do not wait; an answerControl frame is refused with
// an error matching ErrTooManyControlFrames once maxQueuedControlFrames of
// them are queued. taken, if not nil, runs once the frame is taken for a
// write (on the writing goroutine, with no lock held) or never, if the
// connection ends first.
// If inline is set and no one is writing, the caller takes the write token:
// queue returns its owner number, and the caller must call drainAs with it
// (after releasing any lock of its own) to write the queue itself. frame is
// copied or, when large and owned, kept.
func (w *writer) queue(ctx context.Context, done <-chan struct{}, frame []byte, owned bool, class frameClass, inline bool, taken func()) (owner uint64, err error) {
	return w.queueTail(ctx, done, frame, owned, nil, class, inline, taken)
}

// queueTail is queue for a frame in two parts, frame and then tail (the
// payload bytes encodeSplit left out), that go out back to back as one
// frame. tail is the caller's memory. When the caller takes the write
// token (inline, and no one writing), tail is lent, not copied: it goes to
// the socket from where it is, as the second buffer of a writev, and the
// caller's drainAs does not return while the queue still refers to it
// (what a ctx interrupt leaves unwritten is copied first). Otherwise, the
// frame going out with someone else's write, tail is copied into a buffer
// of its own.
func (w *writer) queueTail(ctx context.Context, done <-chan struct{}, frame []byte, owned bool, tail []byte, class frameClass, inline bool, taken func()) (owner uint64, err error) {
	w.mu.Lock()
	for class == dataFrame && w.pending >= maxPending {
		drained := w.drained
		w.mu.Unlock()
		select {
		case <-drained:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-done:
			return 0, errClosedWriter
		}
		w.mu.Lock()
	}
	if class == answerControl {
		if w.controls >= maxQueuedControlFrames {
			w.mu.Unlock()
			return 0, fmt.Errorf("%w: %d answers to the peer's calls wait behind a write the peer does not read",
				ErrTooManyControlFrames, w.controls)
		}
		w.controls++
	}
	if taken != nil {
		w.taken = append(w.taken, taken)
	}
	w.appendLocked(frame, owned)
	lend := inline && !w.busy
	if len(tail) > 0 {
		if !lend {
			tail = append([]byte(nil), tail...)
		} else {
			w.lent = tail
		}
		w.bufs = append(w.bufs, tail)
		w.tailOpen = false
		w.pending += len(tail)
	}
	switch {
	case w.busy: // the writer at work takes it with the rest
	case inline:
		w.takeLocked()
		owner = w.owner
	default:
		defer w.wake()
	}
	w.mu.Unlock()
	return owner, nil
}

func (w *writer) appendLocked(frame []byte, owned bool) {
	w.batch.open = false // a frame after the Batch closes it
	switch {
	case len(frame) > copyMax && owned:
		w.bufs = append(w.bufs, frame)
		w.tailOpen = false
	case w.tailOpen && cap(w.bufs[len(w.bufs)-1])-len(w.bufs[len(w.bufs)-1]) >= len(frame):
		last := &w.bufs[len(w.bufs)-1]
		*last = append(*last, frame...)
	default:
		var chunk []byte
		if n := len(w.free); n > 0 && len(frame) <= cap(w.free[n-1]) {
			chunk, w.free = w.free[n-1], w.free[:n-1]
		} else {
			w.nextChunk = min(chunkSize, max(firstChunk, 2*w.nextChunk))
			chunk = make([]byte, 0, max(w.nextChunk, len(frame)))
		}
		w.bufs = append(w.bufs, append(chunk, frame...))
		w.tailOpen = true
	}
	w.pending += len(frame)
}

// sameEnd reports whether a and b end at the same byte of memory: whether
// a is what is left of b (or b of a) after writes consumed its front.
func sameEnd(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 && &a[len(a)-1] == &b[len(b)-1]
}

func (w *writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// takeLocked takes the write token.
func (w *writer) takeLocked() {
	w.busy = true
	w.owner++
}

// releaseLocked gives the write token back.
func (w *writer) releaseLocked() {
	w.busy = false
	w.holderDone = nil
	w.ctxs.waited() // the holder's write is over
	if w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// errClosedWriter is only seen inside the package: callers report the
// connection's own error instead.
var errClosedWriter = net.ErrClosed

// loop is the write loop: it writes what senders left to it, until stop is
// closed (then it waits for any writing sender, flushes, and returns), done
// is closed (the connection ended: it returns at once), or a write fails
// (then it returns the error).
func (w *writer) loop(stop, done <-chan struct{}) error {
	for {
		select {
		case <-w.kick:
		case <-done:
			return nil
		case <-stop:
			for {
				w.mu.Lock()
				if !w.busy {
					w.takeLocked()
					w.mu.Unlock()
					return w.drain()
				}
				if w.idle == nil {
					w.idle = make(chan struct{})
				}
				idle := w.idle
				w.mu.Unlock()
				<-idle
			}
		}
		w.mu.Lock()
		if w.busy || len(w.bufs) == 0 {
			w.mu.Unlock()
			continue
		}
		w.takeLocked()
		w.mu.Unlock()
		if err := w.drain(); err != nil {
			return err
		}
	}
}

// drainAs is drain for a sender that holds the token as owner: the end of
// its ctx interrupts the write, and the write loop finishes what is left.
func (w *writer) drainAs(ctx context.Context, owner uint64) error {
	if ctx != nil && ctx.Done() != nil {
		// The interruption stays registered while the same ctx keeps
		// coming back (ctxWatch): a sender's next write with it registers
		// nothing.
		w.mu.Lock()
		if w.busy && w.owner == owner {
			w.holderDone = ctx.Done()
			if !w.discarded { // else nothing would reset a kept registration
				w.ctxs.watch(ctx, w.onCtxEnd)
			}
		}
		w.mu.Unlock()
		if ctx.Err() != nil {
			w.interruptHolder() // it ended before the watch: no write may block
		}
	}
	return w.drain()
}

// drain writes the queue, batch after batch, until it is empty, then
// releases the token, which the caller holds. Only a holder's ctx, which
// drainAs registers, interrupts a write: the write loop, which has none,
// is never interrupted.
func (w *writer) drain() error {
	for {
		w.mu.Lock()
		bufs, drained := w.bufs, w.drained
		if len(bufs) == 0 {
			w.releaseLocked()
			w.mu.Unlock()
			return nil
		}
		if w.pending < maxPending {
			// No sender waits for room (they wait only while the queue is
			// full): keep the channel for the next batch.
			drained = nil
		} else {
			w.drained = make(chan struct{})
		}
		w.bufs, w.spareBufs = w.spareBufs[:0], nil
		w.tailOpen, w.pending, w.controls = false, 0, 0
		lent := w.lent // only ever in the batch of the holder that lent it
		w.lent = nil
		taken := w.taken
		w.taken = nil
		w.mu.Unlock()
		for _, f := range taken {
			f()
		}

		// WriteTo consumes its receiver, slicing the elements it holds:
		// give it a copy of the headers so bufs keeps the chunks whole.
		w.spare = append(w.spare[:0], bufs...)
		w.scratch = w.spare
		_, err := w.scratch.WriteTo(w.nc)

		w.mu.Lock()
		interrupted := w.interrupted
		if interrupted {
			w.interrupted = false
			_ = w.nc.SetWriteDeadline(w.closeDeadline)
		}
		if err != nil && interrupted && errors.Is(err, os.ErrDeadlineExceeded) {
			// ctx ended mid-write: the rest goes back to the front of the
			// queue, for the write loop to finish.
			rest := make([][]byte, 0, len(w.scratch)+len(w.bufs))
			for _, b := range w.scratch {
				w.pending += len(b)
				if sameEnd(b, lent) { // the caller's memory: it returns now
					b = append([]byte(nil), b...)
				}
				rest = append(rest, b)
			}
			w.bufs = append(rest, w.bufs...)
			clear(w.spare[:cap(w.spare)]) // scratch is the token's: clear it before the release
			w.releaseLocked()
			w.mu.Unlock()
			closeDrained(drained)
			w.wake()
			return nil // the frame is queued: it will go out
		}
		for _, b := range bufs {
			// Chunks, and frames the writer owns, of a chunk's size; never
			// the caller's memory.
			if cap(b) >= firstChunk && cap(b) <= chunkSize && len(w.free) < 4 && !sameEnd(b, lent) {
				w.free = append(w.free, b[:0])
			}
		}
		clear(bufs)
		w.spareBufs = bufs[:0]
		if err == nil && interrupted {
			// The write finished although ctx ended: leave the rest to the
			// write loop.
			clear(w.spare[:cap(w.spare)])
			w.releaseLocked()
			w.mu.Unlock()
			closeDrained(drained)
			w.wake()
			return nil
		}
		clear(w.spare[:cap(w.spare)])
		if err != nil {
			w.releaseLocked()
		}
		w.mu.Unlock()
		closeDrained(drained)
		if err != nil {
			return err
		}
	}
}

// interruptHolder interrupts the write of the sender holding the token if
// its ctx has ended (ctxWatch may call it for a ctx whose write is over).
func (w *writer) interruptHolder() {
	w.mu.Lock()
	if w.busy && w.holderDone != nil && isDone(w.holderDone) && !w.interrupted {
		w.interrupted = true
		_ = w.nc.SetWriteDeadline(time.Unix(1, 0))
	}
	w.mu.Unlock()
}

// isDone reports whether done is closed.
func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// closeDrained wakes the senders waiting for room, if drained was made for
// them.
func closeDrained(drained chan struct{}) {
	if drained != nil {
		close(drained)
	}
}

// discard drops what is queued, once nothing will write it: the
// connection has ended.
func (w *writer) discard() {
	w.mu.Lock()
	w.bufs, w.tailOpen, w.pending, w.controls, w.free, w.taken, w.lent = nil, false, 0, 0, nil, nil, nil
	w.discarded = true
	w.ctxs.reset()
	w.mu.Unlock()
}

// setCloseDeadline bounds the writes of a closing connection.
func (w *writer) setCloseDeadline(t time.Time) {
	w.mu.Lock()
	w.closeDeadline = t
	_ = w.nc.SetWriteDeadline(t)
	w.mu.Unlock()
}
