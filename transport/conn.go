package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Side says which end of a connection this is. The [Initiator] (the side
// that dialed, or the parent of a socketpair) opens odd stream ids and the
// [Responder] even ones, so both can call the other without colliding.
type Side bool

// The two sides of a connection.
const (
	Initiator Side = true
	Responder Side = false
)

// A Conn is an established, multiplexed connection to a peer. It is safe
// for concurrent use: any number of goroutines may open streams with
// [Conn.Call], take incoming ones with [Conn.Accept], and send and receive
// on streams at once. One goroutine at a time reads frames and routes them
// to their streams without ever blocking on a slow stream: a goroutine
// waiting in [Stream.Recv] or [Conn.Accept] while no one else reads, or
// else one of the connection's own. One goroutine writes, batching
// whatever the senders queued, unless a sender finds it idle and writes
// its own frame.
type Conn struct {
	nc    net.Conn
	cfg   config
	local Hello
	peer  Hello
	w     *writer

	encoders sync.Pool     // *frameEncoder
	callLock chan struct{} // held while a Call takes its id and is queued
	rd       reading       // the read token, and what its holder reads with

	mu           sync.Mutex
	streams      map[uint64]*Stream
	nextID       uint64 // next id this side opens
	lastIncoming uint64 // highest id the peer opened
	incoming     int    // open streams the peer opened
	accepts      queue[*Stream]

	done       chan struct{} // closed when the connection ends
	err        error         // why it ended; set before done is closed
	failOnce   sync.Once
	closing    chan struct{} // closed by Close to stop the writer after a flush
	closeOnce  sync.Once
	readers    sync.WaitGroup // the connection's readers, their handlers, the read watchdog
	writerDone chan struct{}

	lingerOnce sync.Once   // writeFailed
	linger     *time.Timer // fails the connection after a write found the peer gone
}

// NewConn performs the handshake on an established nc (a socketpair end,
// or any stream connection already authenticated by its nature) and
// returns the Conn. side must differ from the peer's. The handshake is
// bounded by ctx and by the handshake timeout; on failure nc is closed and
// the error matches [ErrHandshake]. NewConn does no authentication: use
// [DialTCP] and [ListenTCP] across a network.
func NewConn(ctx context.Context, nc net.Conn, side Side, opts ...Option) (*Conn, error) {
	cfg := newConfig(opts)
	return establish(ctx, nc, side, &cfg, nil)
}

// establish runs the handshake (with auth, when given, between preface and
// Hello) and starts the connection's goroutines.
func establish(ctx context.Context, nc net.Conn, side Side, cfg *config, auth func(net.Conn) error) (*Conn, error) {
	local := Hello{
		Version:   Version,
		Actor:     cfg.actor,
		Role:      cfg.role,
		Initiator: bool(side),
		Window:    uint32(cfg.window),
		MaxFrame:  uint32(cfg.maxFrame),
		Batch:     uint32(cfg.batch),
	}
	// 16 KiB: hundreds of small frames a read, and larger frames bypass it.
	br := bufio.NewReaderSize(nc, 16<<10)
	peer, err := handshake(ctx, nc, br, cfg, &local, auth)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{
		nc:         nc,
		cfg:        *cfg,
		local:      local,
		peer:       *peer,
		w:          newWriter(nc),
		streams:    make(map[uint64]*Stream),
		callLock:   make(chan struct{}, 1),
		nextID:     2,
		done:       make(chan struct{}),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if side == Initiator {
		c.nextID = 1
	}
	c.rd.init(c, br)
	if cfg.handler == nil {
		c.accepts.init(&c.rd)
	} else {
		c.accepts.init(nil) // Accept only waits for the end
	}
	c.encoders.New = func() any { return new(frameEncoder) }
	c.readers.Add(1)
	go c.rd.loop()
	go c.writeLoop()
	return c, nil
}

// Peer returns the Hello the peer sent: its identity, window and limits.
func (c *Conn) Peer() Hello { return c.peer }

// peerMaxFrame is the peer's max_frame as an int, clamped where int is
// narrower than the uint32 a peer may announce (32-bit platforms).
func (c *Conn) peerMaxFrame() int { return int(min(uint64(c.peer.MaxFrame), math.MaxInt)) }

// LocalAddr and RemoteAddr return the underlying connection's addresses.
func (c *Conn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Done returns a channel closed when the connection has ended, by Close,
// by the peer, or by an error; [Conn.Err] then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is up, and afterwards an error
// matching [ErrClosed] and the reason (io.EOF when the peer went away,
// [ErrProtocol], [ErrFrameTooLarge], ...).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close flushes the frames already queued (for at most the close timeout),
// closes the connection, fails every open stream with [ErrClosed], and
// returns once the connection's goroutines have exited. It is safe to call
// more than once and from any goroutine. A connection that has ended by
// itself (the peer hung up, or a fault; see [Conn.Done]) needs no Close to
// release its goroutines: its read and write loops end with it, and only
// handlers ([WithHandler]) still running are left, which Close waits for.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.w.setCloseDeadline(time.Now().Add(c.cfg.closeTimeout))
		<-c.writerDone
		c.fail(nil)
	})
	c.readers.Wait()
	return nil
}

// fail ends the connection once, recording cause (nil for a local Close).
func (c *Conn) fail(cause error) {
	c.failOnce.Do(func() {
		c.rd.close()
		c.mu.Lock()
		c.err = &closedError{cause: cause}
		streams := make([]*Stream, 0, len(c.streams))
		for _, s := range c.streams {
			streams = append(streams, s)
		}
		if c.linger != nil {
			c.linger.Stop()
		}
		c.mu.Unlock()
		close(c.done)
		c.nc.Close()
		for _, s := range streams {
			s.closeCanceled(c.err)
		}
	})
}

// writeLoop runs the write loop until Close, the end of the connection, or
// a failed write; then nothing writes the queue any more, and it is
// dropped.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	err := c.w.loop(c.closing, c.done)
	if err != nil {
		c.writeFailed(err)
	}
	c.w.discard()
}

// writeFailed ends the connection after a failed write and returns its
// error. When the write found the peer gone (it closed its end, or its
// process exited), what the peer sent before it went may still be waiting
// to be read, answers included: the reader reads up to the end, which
// ends the connection, and the close timeout bounds the wait. Any other
// write error ends the connection at once.
func (c *Conn) writeFailed(err error) error {
	err = fmt.Errorf("write: %w", err)
	if !PeerGone(err) {
		c.fail(err)
		return c.Err()
	}
	c.lingerOnce.Do(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.err == nil {
			c.linger = time.AfterFunc(c.cfg.closeTimeout, func() { c.fail(err) })
		}
	})
	return &closedError{cause: err}
}

// route routes one received message: a Call to the accept queue, or
// returned for the handler to serve; anything else to its stream. It never
// blocks on a stream. An error is the peer's fault and ends the connection.
func (c *Conn) route(m *Message) (*Stream, error) {
	if m.Kind != KindCall {
		return nil, c.dispatch(m)
	}
	s, err := c.incomingCall(m)
	if err != nil || s == nil {
		return nil, err
	}
	if c.cfg.handler == nil {
		c.accepts.push(s)
		return nil, nil
	}
	return s, nil
}

// serve runs the handler on s; the stream's context ends with it, also if
// the handler panics or exits its goroutine.
func (c *Conn) serve(s *Stream) {
	defer s.endContext(nil)
	c.cfg.handler(s)
}

// send encodes m (with payload, when not nil, in place of m.Payload) and
// queues it as class says. Data frames wait for room in the queue; control
// frames never wait, so a reader can send them without blocking, but
// a connection with too many answerControl frames queued fails with
// ErrTooManyControlFrames. Once queued, a frame goes out in order unless
// the connection fails.
func (c *Conn) send(ctx context.Context, m *Message, payload any, class frameClass) error {
	owner, err := c.enqueue(ctx, m, payload, class, nil)
	if err != nil {
		return err
	}
	return c.flush(ctx, owner)
}

// enqueue does the work of send up to the queueing. A non-zero owner means
// this goroutine holds the write token and must call flush. taken, if not
// nil, runs when the frame is taken for a write (see writer.queue).
func (c *Conn) enqueue(ctx context.Context, m *Message, payload any, class frameClass, taken func()) (owner uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := c.Err(); err != nil {
		return 0, err
	}
	fe := c.encoders.Get().(*frameEncoder)
	defer c.encoders.Put(fe)
	// A large []byte or raw payload stays where it is (tail), written
	// after the frame's head without a copy when this sender writes.
	frame, tail, err := fe.encodeSplit(m, payload)
	if err != nil {
		return 0, err
	}
	if n := len(frame) - frameHeader + len(tail); n > c.peerMaxFrame() {
		return 0, fmt.Errorf("%w: %s of %d bytes, the peer's limit is %d", ErrFrameTooLarge, m.Kind, n, c.peer.MaxFrame)
	}
	if _, raw := payload.(msgpack.RawMessage); payload != nil && !raw && tail == nil {
		// A Go value may nest deeper than the peer accepts: refuse it here
		// rather than have the peer close the connection.
		if _, err := scanValue(frame[frameHeader:], MaxDepth); err != nil {
			return 0, fmt.Errorf("transport: %s payload %T: %v", m.Kind, payload, err)
		}
	}
	owned := len(frame) > copyMax
	if owned {
		frame = fe.detach()
	}
	// Frames that end a turn are written by the sender itself when the
	// connection is idle; stream items go through the write loop, where a
	// fast producer's items coalesce.
	inline := class == dataFrame && m.Kind != KindYield
	owner, err = c.w.queueTail(ctx, c.done, frame, owned, tail, class, inline, taken)
	if errors.Is(err, ErrTooManyControlFrames) {
		c.fail(err)
	}
	if errors.Is(err, errClosedWriter) || errors.Is(err, ErrTooManyControlFrames) {
		return 0, c.Err()
	}
	return owner, err
}

// flush writes the queue when this goroutine holds the write token.
func (c *Conn) flush(ctx context.Context, owner uint64) error {
	if owner == 0 {
		return nil
	}
	if err := c.w.drainAs(ctx, owner); err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// sendControl queues a small control frame (ownControl or answerControl)
// without waiting; taken is as for enqueue. A failure means the connection
// is ending, which everyone learns from Done.
func (c *Conn) sendControl(m *Message, class frameClass, taken func()) {
	_, _ = c.enqueue(context.Background(), m, nil, class, taken) // never inline: no flush
}

// Call opens a stream that calls fn in the peer with args (any value
// msgpack can encode, or a msgpack.RawMessage) and the metadata ctx
// carries ([ContextWithMetadata]), and returns at once; read the answer
// with [Stream.Recv]. It blocks only while the send queue is
// full, and honours ctx then.
func (c *Conn) Call(ctx context.Context, fn string, args any) (*Stream, error) {
	// Ids must reach the peer in increasing order, so taking an id and
	// queueing its Call happen under one lock (a channel, to honour ctx).
	// The write itself happens after the lock is released, so concurrent
	// Calls coalesce instead of queueing behind one another's syscalls.
	select {
	case c.callLock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		<-c.callLock
		return nil, c.err
	}
	id := c.nextID
	c.nextID += 2
	s := newStream(c, id, true, c.peer.Window)
	c.streams[id] = s
	c.mu.Unlock()
	owner, err := c.enqueueCall(ctx, s, fn, args)
	if err != nil {
		return nil, err
	}
	if err := c.flush(ctx, owner); err != nil {
		return nil, err
	}
	return s, nil
}

// Streams returns how many streams are open on the connection, in either
// direction: calls in flight. It takes the connection's lock.
func (c *Conn) Streams() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams)
}

// enqueueCall queues the Call frame of s and releases the call lock, also
// when encoding args panics (a caller's own EncodeMsgpack): the panic goes
// on to the caller, and the connection serves on without s.
func (c *Conn) enqueueCall(ctx context.Context, s *Stream, fn string, args any) (owner uint64, err error) {
	queued := false
	defer func() {
		<-c.callLock
		if !queued {
			c.remove(s)
		}
	}()
	m := &Message{Kind: KindCall, ID: s.id, Func: fn, Metadata: MetadataFromContext(ctx)}
	owner, err = c.enqueue(ctx, m, args, dataFrame, nil)
	queued = err == nil
	return owner, err
}

// Accept waits for the next stream the peer opened with a Call, honouring
// ctx. After the connection ends it returns the connection's error. While
// it waits and no other goroutine reads the connection, it reads it itself,
// as [Stream.Recv] does. On a connection with a handler ([WithHandler])
// calls go to the handler and Accept only waits for the end.
func (c *Conn) Accept(ctx context.Context) (*Stream, error) {
	s, err := c.accepts.pop(ctx, c.done)
	if err != nil {
		if errors.Is(err, errQueueDone) {
			return nil, c.err
		}
		return nil, err
	}
	return s, nil
}

// remove forgets a finished stream.
func (c *Conn) remove(s *Stream) {
	c.mu.Lock()
	if c.streams[s.id] == s {
		delete(c.streams, s.id)
		if !s.outgoing {
			c.incoming--
		}
	}
	c.mu.Unlock()
}

// dispatch routes one received message. It never blocks on a stream.
func (c *Conn) dispatch(m *Message) error {
	switch m.Kind {
	case KindHello:
		return protocolError("Hello after the handshake")
	case KindBatch:
		if c.local.Batch == 0 { // whatever the stream, even one that has ended
			return protocolError("Batch on stream %d, but this side offered no batches", m.ID)
		}
	}
	c.mu.Lock()
	s := c.streams[m.ID]
	var known bool // the id was opened, by this side or by the peer
	switch {
	case m.ID == 0:
	case (m.ID%2 == 1) == c.local.Initiator:
		known = m.ID < c.nextID
	default:
		known = m.ID <= c.lastIncoming
	}
	c.mu.Unlock()
	if s == nil {
		if !known {
			return protocolError("%s for stream %d, which was never opened", m.Kind, m.ID)
		}
		return nil // a late message for a stream that has ended: harmless
	}
	return s.deliver(m)
}

// incomingCall opens the stream a Call asks for; it returns nil (and no
// error) when the stream limit refused it.
func (c *Conn) incomingCall(m *Message) (*Stream, error) {
	c.mu.Lock()
	if m.ID == 0 || (m.ID%2 == 1) != c.peer.Initiator || m.ID <= c.lastIncoming {
		last := c.lastIncoming
		c.mu.Unlock()
		return nil, protocolError("Call with stream id %d out of order or of this side's parity (the peer's last was %d)", m.ID, last)
	}
	c.lastIncoming = m.ID
	if c.incoming >= c.cfg.maxStreams {
		c.mu.Unlock()
		c.sendControl(&Message{Kind: KindError, ID: m.ID, Err: &ErrorInfo{
			Type:    TooManyStreamsName,
			Message: fmt.Sprintf("%v (limit %d)", ErrTooManyStreams, c.cfg.maxStreams),
			Source:  c.local.Actor,
			Is:      []string{TooManyStreamsName},
		}}, answerControl, nil)
		return nil, nil
	}
	s := newStream(c, m.ID, false, c.peer.Window)
	s.fn, s.args, s.md = m.Func, m.Payload, m.Metadata
	c.streams[m.ID] = s
	c.incoming++
	err := c.err // a Call read after the connection ended: born cancelled
	c.mu.Unlock()
	if err != nil {
		s.closeCanceled(err)
	}
	return s, nil
}
