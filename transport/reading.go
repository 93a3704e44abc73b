package transport

import (
	"bufio"
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// readHandoff bounds how long a connection may go unread while no one
// holds its read token: the watchdog then starts a reader of last resort.
// It is the longest a frame no one waits for (a Cancel for a handler at
// work, a Call while this side's callers are between calls, the end of the
// connection) waits to be read after the token was freed. Each cycle of the
// watchdog (a timer armed, fired, a goroutine) costs several wake-ups
// (about 30 µs of CPU on a 2-vCPU VM), so on a connection whose token
// keeps changing hands, where a firing watchdog finds it held, the delay
// doubles up to maxHandoffs times readHandoff, as the runtime's sysmon
// backs off; it falls back to readHandoff each time the watchdog had to
// start a reader.
const (
	readHandoff = 200 * time.Microsecond
	maxHandoffs = 10
)

// A reading is a connection's read token and the state only its holder
// touches: the buffered reader, the frame reader and decoder.
//
// Whoever holds the token reads frames and routes them to their streams,
// leader/follower style. A goroutine that would wait for a frame (a
// Recv or an Accept on an empty queue) takes the token when no one holds
// it and reads the socket itself, so that its answer costs no goroutine
// handoff: the netpoller wakes the goroutine that will use the frame. It
// reads until its own queue has something, routing what it reads for
// others, then passes the token to another waiting goroutine whose queue
// is empty, or frees it. A goroutine that finds the token held registers
// as a wanter and waits on its queue as before; the holder routes its
// frames to it.
//
// Frames must still be read when no one waits: credits, Cancels, Calls
// for the handler, the end of the connection. So a free token arms a
// watchdog (readHandoff, backing off to maxHandoffs times that), which
// starts the reader of last resort, loop, if the token has stayed free
// for its delay. loop reads with no deadline;
// it passes the token to a wanter once one waits and no whole frame is
// buffered, so that waiting goroutines read for themselves again. When it
// reads a Call for the handler it frees the token and runs the handler
// itself, with no handoff; if the handler outlasts the watchdog's delay
// the watchdog starts another reader, and the goroutine ends with its
// handler.
//
// A waiting goroutine reads interruptibly: it waits with bufio's Peek,
// which keeps what it has read when interrupted, until a whole frame is
// buffered, and only then reads it. When its ctx ends mid-wait, or its
// queue closes (its owner's Stream.Close), a read deadline in the past
// interrupts the wait (as the writer interrupts a write). A frame larger
// than the buffer it reads itself, straight into the frame's own buffer
// (frameReader.fill), interruptible the same way: an interrupted read
// keeps the part that arrived in the frameReader, and whoever reads next
// (another waiting goroutine, or loop) goes on from there.
type reading struct {
	c      *Conn
	br     *bufio.Reader
	fr     *frameReader
	fd     *frameDecoder
	direct bool // read deadlines work: waiting goroutines may read

	mu          sync.Mutex
	held        bool          // someone holds the token (reads, or was offered it)
	closed      bool          // the connection ended: no reader starts any more
	wanters     waitLink      // sentinel of the list of registered wanters
	offered     *waitLink     // the wanter the token was passed to, until it takes it
	freedAt     time.Time     // when the token was last freed
	armed       bool          // the watchdog is armed (it counts in c.readers)
	wait        time.Duration // the watchdog's delay: handoff, more while the token is busy
	timer       *time.Timer
	blocked     context.Context // the ctx of the waiting goroutine blocked in its read, if any
	blockedFor  waiter          // what that goroutine waits for
	interrupted bool            // that ctx ended, or that waiter became ready, and set the read deadline
	interrupt   func()          // interrupts the blocked read if it need not wait any more
	ctxs        ctxWatch        // runs interrupt when a waiting goroutine's ctx ends

	handoff time.Duration   // readHandoff, or what a test set
	hook    func(readEvent) // a test's, called with mu held; nil in production

	satisfied atomic.Bool // the frame being routed gave a wanter what it waits for
}

// A readEvent is what a test's hook on a reading hears.
type readEvent uint8

const (
	readWanter  readEvent = iota + 1 // a goroutine registered as a wanter
	readBlocked                      // a waiting goroutine holding the token blocks in its read
	readLoop                         // a reader of last resort starts
)

func (rd *reading) eventLocked(e readEvent) {
	if rd.hook != nil {
		rd.hook(e)
	}
}

// A waitLink is a wanter's place in the list: embedded in each queue.
type waitLink struct {
	prev, next *waitLink
	w          waiter
	in         atomic.Bool // in the list: a push to the queue satisfies a wanter
}

// A waiter is a goroutine that may wait for what the connection reads: a
// queue's popper.
type waiter interface {
	ready() bool // an item is queued, or the queue closed
	wake()       // signal the popper without blocking
}

// errInterrupted ends a waiting goroutine's reading.
var errInterrupted = errors.New("transport: read interrupted")

func (rd *reading) init(c *Conn, br *bufio.Reader) {
	rd.c, rd.br = c, br
	rd.fr, rd.fd = &frameReader{r: br}, new(frameDecoder)
	rd.direct = c.nc.SetReadDeadline(time.Time{}) == nil
	rd.wanters.prev, rd.wanters.next = &rd.wanters, &rd.wanters
	rd.held = true // by loop, started by establish
	rd.handoff, rd.wait = readHandoff, readHandoff
	rd.interrupt = func() {
		rd.mu.Lock()
		defer rd.mu.Unlock()
		// Any session's ctx may call, and any queue's close: only the
		// blocked goroutine's ends its wait.
		if rd.blocked != nil && !rd.interrupted && (rd.blocked.Err() != nil || rd.blockedFor.ready()) {
			rd.interrupted = true
			_ = rd.c.nc.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

// take gives the token to the popper of l if it is free or was passed to
// it, and reports whether it did; otherwise it registers l as a wanter.
func (rd *reading) take(l *waitLink) bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	switch {
	case rd.offered == l:
		rd.offered = nil
		return true
	case rd.closed || !rd.direct:
		return false
	case !rd.held:
		// l may still be registered, by another popper of its queue: the
		// holder must not find itself among the wanters it passes to.
		rd.unlinkLocked(l)
		rd.held = true
		return true
	}
	if l.next == nil {
		l.prev, l.next = rd.wanters.prev, &rd.wanters
		l.prev.next, rd.wanters.prev = l, l
		l.in.Store(true)
		rd.eventLocked(readWanter)
	}
	return false
}

// leave unregisters l, whose popper stops waiting; a token passed to it
// goes on to another.
func (rd *reading) leave(l *waitLink) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.unlinkLocked(l)
	if rd.offered == l {
		rd.offered = nil
		rd.passLocked()
	}
}

func (rd *reading) unlinkLocked(l *waitLink) {
	if l.next != nil {
		l.prev.next, l.next.prev = l.next, l.prev
		l.prev, l.next = nil, nil
		l.in.Store(false)
	}
}

// passLocked gives the held token up: to the first wanter with nothing
// queued (woken to read), else it frees it and arms the watchdog.
func (rd *reading) passLocked() {
	rd.ctxs.waited() // the holder's wait is over
	for l := rd.wanters.next; l != &rd.wanters && !rd.closed; l = l.next {
		if !l.w.ready() {
			rd.unlinkLocked(l)
			rd.offered = l
			l.w.wake()
			return
		}
	}
	rd.held = false
	rd.freedAt = time.Now()
	if !rd.armed && !rd.closed {
		rd.armLocked(rd.wait)
	}
}

// armLocked arms the watchdog to fire after d.
func (rd *reading) armLocked(d time.Duration) {
	rd.armed = true
	rd.c.readers.Add(1) // the watchdog's goroutine, if it fires
	if rd.timer == nil {
		rd.timer = time.AfterFunc(d, rd.watch)
	} else {
		rd.timer.Reset(d)
	}
}

// release gives the token up (passLocked).
func (rd *reading) release() {
	rd.mu.Lock()
	rd.passLocked()
	rd.mu.Unlock()
}

// watch is the watchdog: if the token has been free for its delay, its
// goroutine becomes the reader of last resort.
func (rd *reading) watch() {
	rd.mu.Lock()
	rd.armed = false
	free := time.Since(rd.freedAt)
	switch {
	case rd.closed:
	case rd.held:
		rd.wait = min(2*rd.wait, maxHandoffs*rd.handoff) // busy: back off
	case free < rd.wait:
		rd.armLocked(rd.wait - free) // freed again since it was armed
	default:
		rd.wait = rd.handoff
		rd.held = true
		rd.eventLocked(readLoop)
		rd.mu.Unlock()
		rd.loop() // counted in c.readers by the arming
		return
	}
	rd.mu.Unlock()
	rd.c.readers.Done()
}

// close stops the watchdog and any new reader: the connection has ended.
func (rd *reading) close() {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.closed = true
	rd.ctxs.reset()
	if rd.armed && rd.timer.Stop() {
		rd.armed = false
		rd.c.readers.Done()
	}
}

// start runs s's handler on a goroutine of its own, counted in c.readers,
// unless the connection has ended.
func (rd *reading) start(s *Stream) {
	rd.mu.Lock()
	closed := rd.closed
	if !closed {
		rd.c.readers.Add(1)
	}
	rd.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer rd.c.readers.Done()
		rd.c.serve(s)
	}()
}

// loop is the reader of last resort: it holds the token and reads with no
// deadline until it passes the token on, the connection ends, or a handler
// it ran outlasted the watchdog.
func (rd *reading) loop() {
	defer rd.c.readers.Done()
	for {
		s, err := rd.readOne()
		if err != nil {
			rd.c.fail(err)
			return
		}
		if s != nil {
			// Others may read while the handler runs: the call starts
			// without a goroutine handoff, and a long one without stalling
			// the connection for more than readHandoff.
			rd.release()
			rd.c.serve(s)
			if !rd.retake() {
				return
			}
			continue
		}
		if rd.yield() {
			return
		}
	}
}

// retake takes the token back after a handler, if no one took it.
func (rd *reading) retake() bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.held || rd.closed {
		return false
	}
	rd.held = true
	return true
}

// yield passes the token on from loop, and reports whether it did, when
// no whole frame is buffered and either a registered wanter has nothing
// queued (it reads next) or the frame just routed satisfied one (its
// goroutine may call again, and read for itself).
func (rd *reading) yield() bool {
	if !rd.direct {
		return false
	}
	satisfied := rd.satisfied.Load()
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.wanters.next == &rd.wanters || rd.whole() {
		return false
	}
	if !satisfied {
		for l := rd.wanters.next; ; l = l.next {
			if l == &rd.wanters {
				return false
			}
			if !l.w.ready() {
				break
			}
		}
	}
	rd.passLocked()
	return true
}

// readOne reads one frame and routes it; it returns the incoming call the
// holder must serve, if any.
func (rd *reading) readOne() (*Stream, error) {
	rd.satisfied.Store(false)
	body, err := rd.fr.read(rd.c.cfg.maxFrame)
	if err != nil {
		return nil, err
	}
	m, err := rd.fd.decode(body)
	if err != nil {
		return nil, err
	}
	return rd.c.route(m)
}

// need returns how many buffered bytes the next frame needs to be whole
// (at least its header): 0 when its length is over the limit, which read
// reports. Of a large frame begun (frameReader.fill), it is the bytes it
// still lacks.
func (rd *reading) need() int {
	if rd.fr.big != nil {
		return rd.fr.left()
	}
	if rd.br.Buffered() < frameHeader {
		return frameHeader
	}
	hdr, _ := rd.br.Peek(frameHeader)
	n := be32(hdr)
	if n > rd.c.cfg.maxFrame {
		return 0
	}
	return frameHeader + n
}

// whole reports whether a whole frame (or a header read will refuse) is
// buffered.
func (rd *reading) whole() bool {
	n, b := rd.need(), rd.br.Buffered()
	return b >= n && (b >= frameHeader || rd.fr.big != nil)
}

// readFor reads frames as the holder of the token until w has something
// queued, ctx ends (its error is returned) or the connection ends, then
// gives the token up.
func (rd *reading) readFor(ctx context.Context, w waiter) error {
	for !w.ready() {
		select {
		case <-rd.c.done:
			rd.release()
			return nil
		default:
		}
		switch err := rd.waitFrame(ctx, w); {
		case err == errInterrupted:
			rd.release()
			return ctx.Err() // nil when w became ready: closed by its owner
		case err != nil:
			rd.c.fail(err)
			rd.release()
			return nil
		}
		if !rd.readServe() {
			return nil
		}
	}
	// Route what is already buffered, without blocking, so that no frame
	// waits in the buffer for the next reader.
	for rd.whole() {
		if !rd.readServe() {
			return nil
		}
	}
	rd.release()
	return nil
}

// readServe reads and routes one frame for a waiting goroutine, starting
// a handler on its own goroutine. It reports false when the read failed,
// which ended the connection, and then gives the token up.
func (rd *reading) readServe() bool {
	s, err := rd.readOne()
	if err != nil {
		rd.c.fail(err)
		rd.release()
		return false
	}
	if s != nil {
		rd.start(s)
	}
	return true
}

// waitFrame waits until a whole frame is buffered, honouring ctx, and
// while w is not ready (its queue closed by its owner: see
// queue.close). It returns nil also when the connection failed mid-frame:
// the frame's read then reports the error, with what was cut short. A
// frame larger than the buffer is read instead into its own buffer,
// where it is whole once read (frameReader.fill); its header is then
// consumed, and an error reading it is returned. The interruption by ctx
// stays registered after the wait (see ctxWatch): the next wait with the
// same ctx, the caller's next call, registers nothing.
func (rd *reading) waitFrame(ctx context.Context, w waiter) error {
	for !rd.whole() {
		n := rd.need()
		large := n > rd.br.Size()
		if large && rd.fr.big == nil {
			rd.fr.startBig(n - frameHeader)
			_, _ = rd.br.Discard(frameHeader) // buffered: need peeked it
		}
		rd.mu.Lock()
		if !rd.closed {
			rd.ctxs.watch(ctx, rd.interrupt)
		}
		if ctx.Err() != nil || w.ready() {
			rd.mu.Unlock()
			return errInterrupted
		}
		rd.blocked, rd.blockedFor = ctx, w
		rd.eventLocked(readBlocked)
		rd.mu.Unlock()

		var err error
		if large {
			err = rd.fr.fill()
		} else {
			_, err = rd.br.Peek(n)
		}

		rd.mu.Lock()
		rd.blocked, rd.blockedFor = nil, nil
		interrupted := rd.interrupted
		if interrupted {
			rd.interrupted = false
			_ = rd.c.nc.SetReadDeadline(time.Time{})
		}
		rd.mu.Unlock()
		switch {
		case err == nil:
		case interrupted && errors.Is(err, os.ErrDeadlineExceeded):
			return errInterrupted
		case large, rd.br.Buffered() == 0:
			return err // as read would return it
		default:
			return nil
		}
	}
	return nil
}
