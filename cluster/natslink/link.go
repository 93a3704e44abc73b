package natslink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	// MaxChunk is the largest body of a data message: a Write is cut into
	// chunks of at most this size (less if the server's max_payload is
	// smaller), and a received data message with a larger body is a
	// protocol error. With NATS's default max_payload of 1 MiB, a grove
	// frame of any size (up to transport's 64 MiB) crosses.
	MaxChunk = 512 << 10

	// DefaultWindow is the default [Config.Window]: 4 MiB.
	DefaultWindow = 4 << 20

	// DefaultDeadInterval is the default [Config.DeadInterval]: 5 s.
	DefaultDeadInterval = 5 * time.Second

	// CloseTimeout bounds how long Close waits for the peer's ack of
	// everything sent, fin included (the transport's close timeout).
	CloseTimeout = time.Second

	// mergeCap bounds the data chunks the receiver merges into one buffer,
	// which bounds the number of buffers a window's worth of small
	// messages can take.
	mergeCap = 64 << 10
)

// Config configures a [Link]. Send and Recv are required; the zero value
// of every other field takes its default.
type Config struct {
	// Send is the subject this side publishes on; Recv the subject it
	// subscribes to. The peer's are the other way round. They should be
	// unguessable (a link ID of 128 random bits): whoever can publish on
	// Recv can inject bytes into the stream.
	Send, Recv string

	// DeadInterval is T: the link pings after T/4 of sending nothing and
	// ends with a [*SilenceError] after T of receiving nothing. Default
	// [DefaultDeadInterval]; both sides should use the same.
	DeadInterval time.Duration

	// Window bounds the bytes sent and not yet acknowledged; Write blocks
	// beyond it. The receiver acks every Window/4 bytes consumed. Default
	// [DefaultWindow], at least [MaxChunk]; both sides must use the same
	// (a receiver ends the link if the peer overruns its own window).
	Window int

	// OnLog and OnExit, if set, receive the peer's [Log] and [Exit]
	// messages, in stream order, on the link's receive goroutine: they must
	// not block (a blocked callback stops the link's acks and heartbeat).
	// Without them, such messages are dropped.
	OnLog  func(Log)
	OnExit func(Exit)
}

// Link is one end of a bearer: a [net.Conn] over two NATS subjects. Make it
// with [New]; it is safe for concurrent use (concurrent Writes are
// serialised, each Write's bytes stay together).
//
// A Link owns two goroutines (the receiver, and the heartbeat), which
// Close joins.
type Link struct {
	cfg      Config
	nc       *nats.Conn
	sub      *nats.Subscription
	chunk    int // the largest data body this side sends
	ackEvery int
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	rdl, wdl *deadline

	writeMu   sync.Mutex // one Write (or Send, or fin) at a time
	closeOnce sync.Once

	mu      sync.Mutex
	publish func([]byte) error // publishes on cfg.Send; a test may wrap it
	pending func() int         // messages waiting in the subscription, or nil
	closing bool               // Close was called
	err     error              // why the link ended; set before done is closed
	done    chan struct{}

	// Sender.
	nextSeq  uint64  // the seq the next data, log, exit or fin takes
	unacked  []sentM // sent and not acked, in seq order
	inflight int     // body bytes in unacked
	acked    uint64  // the peer consumed every seq up to it
	lastSent time.Time
	resentAt time.Time     // when the last retransmission ran
	space    chan struct{} // closed (and replaced) when inflight shrinks or the link ends
	finSeq   uint64        // our fin's seq, once Close sent it

	// Receiver.
	expected  uint64  // the seq of the next message to deliver
	queue     []entry // delivered data not yet read
	buffered  int     // data bytes in queue
	consumed  uint64  // every seq up to it was consumed
	toAck     int     // bytes consumed since the last ack this side sent
	ackSent   uint64  // the last cumulative ack sent
	lastNack  time.Time
	lastHeard time.Time
	grace     time.Time // no silence verdict before it (set after a stall of this process)
	graceFor  time.Time // the lastHeard grace was given for: one extension per silence
	peerFin   bool
	readable  chan struct{} // closed (and replaced) when data, fin or an end arrives
}

type sentM struct {
	seq  uint64
	msg  []byte
	body int
}

// entry is delivered data; last is the highest seq its consumption
// consumes (later log and exit messages ride on the data before them).
type entry struct {
	body []byte
	last uint64
}

// New subscribes to cfg.Recv on nc and returns the link, up at once (there
// is no handshake: the peer's first message is the first byte of its
// stream). nc is the owner's: Close does not close it. nats.go allows one
// reconnect handler per connection, so the owner calls [Link.Resume] from
// its own after each reconnect; publishes during a reconnect may be lost
// (use nats.ReconnectBufSize(-1): the link retransmits).
func New(nc *nats.Conn, cfg Config) (*Link, error) {
	if nc == nil {
		return nil, errors.New("natslink: New needs a *nats.Conn, got nil")
	}
	if nc.IsClosed() {
		return nil, fmt.Errorf("natslink: New: %w (connect first)", nats.ErrConnectionClosed)
	}
	l, err := newLink(cfg)
	if err != nil {
		return nil, err
	}
	if mp := int(nc.MaxPayload()); mp > 0 && mp-headerLen < l.chunk {
		l.chunk = mp - headerLen
	}
	sub, err := nc.SubscribeSync(cfg.Recv)
	if err != nil {
		return nil, fmt.Errorf("natslink: subscribe to %q: %w", cfg.Recv, err)
	}
	// Beyond this, nats.go drops messages (a slow consumer): the link sees
	// a gap and recovers it, so memory stays bounded whatever the peer does.
	if err := sub.SetPendingLimits(1<<16, 2*l.cfg.Window+1<<20); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("natslink: subscription limits: %w", err)
	}
	l.nc, l.sub = nc, sub
	send := cfg.Send
	l.publish = func(m []byte) error { return nc.Publish(send, m) }
	l.pending = func() int { n, _, _ := sub.Pending(); return n }
	l.wg.Add(2)
	go l.receiveLoop()
	go l.heartbeat()
	return l, nil
}

// newLink validates cfg and returns a link with no NATS and no goroutines.
func newLink(cfg Config) (*Link, error) {
	if cfg.Send == "" || cfg.Recv == "" {
		return nil, errors.New("natslink: Config needs both Send and Recv subjects")
	}
	if cfg.Send == cfg.Recv {
		return nil, fmt.Errorf("natslink: Config.Send and Recv are both %q: a link needs one subject per direction", cfg.Send)
	}
	if cfg.DeadInterval == 0 {
		cfg.DeadInterval = DefaultDeadInterval
	}
	if cfg.DeadInterval < 8*time.Millisecond {
		return nil, fmt.Errorf("natslink: Config.DeadInterval %v is too short: use at least 8ms (default %v)", cfg.DeadInterval, DefaultDeadInterval)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Window < MaxChunk {
		return nil, fmt.Errorf("natslink: Config.Window %d is below one chunk: use at least MaxChunk (%d)", cfg.Window, MaxChunk)
	}
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now()
	return &Link{
		cfg: cfg, chunk: MaxChunk, ackEvery: cfg.Window / 4,
		ctx: ctx, cancel: cancel,
		rdl: newDeadline(), wdl: newDeadline(),
		publish:  func([]byte) error { return nil },
		done:     make(chan struct{}),
		nextSeq:  1,
		expected: 1,
		lastSent: now, lastHeard: now,
		space:    make(chan struct{}),
		readable: make(chan struct{}),
	}, nil
}

// Read reads the peer's bytes in order. It blocks until some arrive, the
// read deadline passes (os.ErrDeadlineExceeded), the peer's fin has been
// reached (io.EOF), or the link ends (its error: [Link.Err]).
func (l *Link) Read(p []byte) (int, error) {
	for {
		l.mu.Lock()
		switch {
		case l.closing:
			l.mu.Unlock()
			return 0, fmt.Errorf("natslink: read: %w", net.ErrClosed)
		case l.err != nil:
			err := l.err
			l.mu.Unlock()
			return 0, err
		case len(l.queue) > 0:
			n := l.consumeLocked(p)
			l.mu.Unlock()
			return n, nil
		case l.peerFin:
			l.mu.Unlock()
			return 0, io.EOF
		case len(p) == 0:
			l.mu.Unlock()
			return 0, nil
		}
		ch := l.readable
		l.mu.Unlock()
		select {
		case <-ch:
		case <-l.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// consumeLocked copies queued data into p and acks what it consumed once
// a quarter window has been.
func (l *Link) consumeLocked(p []byte) int {
	n := 0
	for n < len(p) && len(l.queue) > 0 {
		h := &l.queue[0]
		c := copy(p[n:], h.body)
		h.body = h.body[c:]
		n += c
		if len(h.body) == 0 {
			l.consumed = h.last
			l.queue[0] = entry{}
			l.queue = l.queue[1:]
		}
	}
	l.buffered -= n
	l.toAck += n
	if l.toAck >= l.ackEvery {
		l.sendAckLocked()
	}
	return n
}

// Write sends p, cut into chunks of at most [MaxChunk]. It blocks while
// the window is full, until the peer acks, the write deadline passes
// (os.ErrDeadlineExceeded, with the count of bytes sent), Close is called,
// or the link ends. It costs one copy of p (kept for retransmission until
// acked) and one NATS publish per chunk.
func (l *Link) Write(p []byte) (int, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	n := 0
	for n < len(p) {
		c := min(len(p)-n, l.chunk)
		if err := l.send(typeData, p[n:n+c], false); err != nil {
			return n, err
		}
		n += c
	}
	return n, nil
}

// SendLog sends output lines to the peer, in order with the data written
// before it. It blocks as Write does; the batch must have at most
// [MaxLogLines] lines and its encoding must fit in a chunk (512 KiB):
// split larger ones.
func (l *Link) SendLog(m Log) error {
	if len(m.Lines) > MaxLogLines {
		return fmt.Errorf("natslink: a log of %d lines exceeds MaxLogLines (%d): split it", len(m.Lines), MaxLogLines)
	}
	return l.sendSide(typeLog, m)
}

// SendExit sends an exit status to the peer, in order with the data
// written before it. It blocks as Write does.
func (l *Link) SendExit(m Exit) error { return l.sendSide(typeExit, m) }

func (l *Link) sendSide(typ byte, v any) error {
	body, err := marshalSide(v)
	if err != nil {
		return fmt.Errorf("natslink: encode: %w", err)
	}
	if len(body) > l.chunk {
		return fmt.Errorf("natslink: a %d-byte side message exceeds a chunk (%d bytes): split it", len(body), l.chunk)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.send(typ, body, false)
}

// send waits for room in the window, then takes the next seq and
// publishes. The caller holds writeMu.
func (l *Link) send(typ byte, body []byte, fin bool) error {
	for {
		l.mu.Lock()
		if err := l.writeErrLocked(fin); err != nil {
			l.mu.Unlock()
			return err
		}
		expired := l.wdl.wait()
		if isClosed(expired) {
			l.mu.Unlock()
			return os.ErrDeadlineExceeded
		}
		if l.inflight == 0 || l.inflight+len(body) <= l.cfg.Window {
			break
		}
		space := l.space
		l.mu.Unlock()
		select {
		case <-space:
		case <-expired:
			return os.ErrDeadlineExceeded
		}
	}
	defer l.mu.Unlock()
	seq := l.nextSeq
	l.nextSeq++
	m := encode(typ, seq, body)
	l.unacked = append(l.unacked, sentM{seq: seq, msg: m, body: len(body)})
	l.inflight += len(body)
	if fin {
		l.finSeq = seq
	}
	return l.publishLocked(m)
}

func (l *Link) writeErrLocked(fin bool) error {
	switch {
	case l.closing && !fin:
		return fmt.Errorf("natslink: write: %w", net.ErrClosed)
	case l.err != nil:
		return l.err
	case l.peerFin && !fin:
		return ErrPeerClosed
	}
	return nil
}

// publishLocked publishes m. A message lost to a reconnect stays in
// unacked for retransmission; a closed connection ends the link.
func (l *Link) publishLocked(m []byte) error {
	err := l.publish(m)
	l.lastSent = time.Now()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject):
		l.failLocked(fmt.Errorf("natslink: publish on %q: %w", l.cfg.Send, err))
		return l.err
	default:
		return nil // reconnecting: nack or Resume will resend it
	}
}

// Resume resends everything not yet acknowledged and asks the peer to do
// the same (a nack of the next expected seq). The owner calls it from its
// nats.ReconnectHandler: messages published while the connection was down
// were lost. It does not block on the network.
func (l *Link) Resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.resendLocked(l.acked + 1)
	l.lastNack = time.Now()
	_ = l.publishLocked(encodeU64(typeNack, 0, l.expected))
}

// resendLocked republishes every unacked message from seq on: at most a
// window's worth.
func (l *Link) resendLocked(seq uint64) {
	l.resentAt = time.Now()
	for _, s := range l.unacked {
		if s.seq >= seq {
			if l.publishLocked(s.msg) != nil {
				return
			}
		}
	}
}

func (l *Link) sendAckLocked() {
	l.toAck = 0
	l.ackSent = l.consumed
	_ = l.publishLocked(encodeU64(typeAck, 0, l.consumed))
}

// receive handles one message from the peer. It returns the side-channel
// callback to run, if any, which the caller runs without the lock.
func (l *Link) receive(m []byte) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil
	}
	l.lastHeard = time.Now()
	side, err := l.receiveLocked(m)
	if err != nil {
		l.failLocked(err)
		return nil
	}
	return side
}

func (l *Link) receiveLocked(m []byte) (func(), error) {
	if len(m) < headerLen {
		return nil, protocolf("a %d-byte message is shorter than the %d-byte header", len(m), headerLen)
	}
	typ, seq, body := m[0], binary.BigEndian.Uint64(m[1:headerLen]), m[headerLen:]
	switch typ {
	case typePing:
		ack, err := decodeU64(typ, body)
		if err != nil {
			return nil, err
		}
		if err := l.ackedLocked(ack); err != nil {
			return nil, err
		}
		if seq >= l.expected && !l.peerFin {
			l.nackLocked() // the peer sent up to seq: we lost its tail
		}
		return nil, nil
	case typeAck:
		ack, err := decodeU64(typ, body)
		if err != nil {
			return nil, err
		}
		return nil, l.ackedLocked(ack)
	case typeNack:
		from, err := decodeU64(typ, body)
		if err != nil {
			return nil, err
		}
		if from <= l.acked || from > l.nextSeq {
			return nil, protocolf("nack of seq %d, outside the unacknowledged range %d..%d", from, l.acked+1, l.nextSeq)
		}
		// One retransmission (at most a window) per T/16, whatever the seq
		// nacked: a peer nacks at most once per T/8, so an honest nack is
		// always served, and a hostile peer gets at most a window per T/16.
		if time.Since(l.resentAt) < l.cfg.DeadInterval/16 {
			return nil, nil
		}
		l.resendLocked(from)
		return nil, nil
	case typeLog, typeExit:
		if len(body) > MaxChunk {
			return nil, protocolf("a message of type %d of %d bytes: at most %d", typ, len(body), MaxChunk)
		}
	case typeData, typeFin:
	default:
		return nil, protocolf("unknown message type %d", typ)
	}
	switch {
	case seq < l.expected:
		return nil, nil // a duplicate
	case seq > l.expected:
		l.nackLocked()
		return nil, nil
	case l.peerFin:
		return nil, protocolf("a message of type %d (seq %d) after the peer's fin", typ, seq)
	}
	l.expected++
	var side func()
	switch typ {
	case typeData:
		if len(body) == 0 || len(body) > MaxChunk {
			return nil, protocolf("a data message of %d bytes: want 1 to %d", len(body), MaxChunk)
		}
		if l.buffered+len(body) > l.cfg.Window {
			return nil, protocolf("the peer overran the window: %d bytes unread, %d more arrived, window %d", l.buffered, len(body), l.cfg.Window)
		}
		l.buffered += len(body)
		if n := len(l.queue); n > 0 && len(l.queue[n-1].body)+len(body) <= mergeCap {
			t := &l.queue[n-1]
			if cap(t.body)-len(t.body) < len(body) {
				t.body = append(make([]byte, 0, mergeCap), t.body...)
			}
			t.body = append(t.body, body...)
			t.last = seq
		} else {
			l.queue = append(l.queue, entry{body: body, last: seq})
		}
		l.signalReadableLocked()
		return nil, nil
	case typeLog:
		v, err := decodeLog(body)
		if err != nil {
			return nil, err
		}
		if f := l.cfg.OnLog; f != nil {
			side = func() { f(v) }
		}
	case typeExit:
		var v Exit
		if err := unmarshalSide(typ, body, &v); err != nil {
			return nil, err
		}
		if f := l.cfg.OnExit; f != nil {
			side = func() { f(v) }
		}
	case typeFin:
		if len(body) != 0 {
			return nil, protocolf("a fin with a %d-byte body", len(body))
		}
		l.peerFin = true
		close(l.space) // a Close waiting for its fin's ack waits no more
		l.space = make(chan struct{})
	}
	// A log, exit or fin is consumed on delivery, after the data before it.
	l.toAck += len(body)
	if n := len(l.queue); n > 0 {
		l.queue[n-1].last = seq
	} else {
		l.consumed = seq
	}
	if typ == typeFin {
		// The peer waits for this ack to close; it sends nothing more, so
		// the data still unread needs no retransmission: ack it all.
		l.consumed, l.toAck = seq, 0
		_ = l.publishLocked(encodeU64(typeAck, 0, seq))
		l.signalReadableLocked()
	} else if l.toAck >= l.ackEvery {
		l.sendAckLocked()
	}
	return side, nil
}

// ackedLocked records the peer's cumulative ack.
func (l *Link) ackedLocked(ack uint64) error {
	if ack >= l.nextSeq {
		return protocolf("ack of seq %d, never sent (the last is %d)", ack, l.nextSeq-1)
	}
	if ack <= l.acked {
		return nil
	}
	l.acked = ack
	k := 0
	for k < len(l.unacked) && l.unacked[k].seq <= ack {
		l.inflight -= l.unacked[k].body
		l.unacked[k] = sentM{}
		k++
	}
	l.unacked = l.unacked[k:]
	close(l.space)
	l.space = make(chan struct{})
	return nil
}

// nackLocked asks the peer to resend from the expected seq, at most once
// per T/8.
func (l *Link) nackLocked() {
	now := time.Now()
	if now.Sub(l.lastNack) < l.cfg.DeadInterval/8 {
		return
	}
	l.lastNack = now
	_ = l.publishLocked(encodeU64(typeNack, 0, l.expected))
}

func (l *Link) signalReadableLocked() {
	close(l.readable)
	l.readable = make(chan struct{})
}

// failLocked ends the link with err (the first error wins), waking every
// blocked call and stopping the goroutines.
func (l *Link) failLocked(err error) {
	if l.err != nil {
		return
	}
	l.err = err
	close(l.done)
	l.cancel()
	close(l.space)
	l.space = make(chan struct{})
	l.signalReadableLocked()
}

// receiveLoop takes the subscription's messages until the link ends.
func (l *Link) receiveLoop() {
	defer l.wg.Done()
	for {
		msg, err := l.sub.NextMsgWithContext(l.ctx)
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				continue // messages were dropped: a gap, which the link nacks
			}
			l.mu.Lock()
			l.failLocked(fmt.Errorf("natslink: receive on %q: %w", l.cfg.Recv, err))
			l.mu.Unlock()
			return
		}
		if side := l.receive(msg.Data); side != nil {
			side()
		}
	}
}

// heartbeat pings after T/4 of sending nothing and ends the link after T
// of receiving nothing.
func (l *Link) heartbeat() {
	defer l.wg.Done()
	t := l.cfg.DeadInterval
	wait := t / 4
	planned := time.Now().Add(wait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		wait = l.tick(now, now.Sub(planned))
		planned = now.Add(wait)
		timer.Reset(wait)
	}
}

// tick runs the heartbeat's checks at now, late after it was due, and
// returns the wait until the next one.
func (l *Link) tick(now time.Time, late time.Duration) time.Duration {
	t := l.cfg.DeadInterval
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return t
	}
	if silence := now.Sub(l.lastHeard); silence >= t && !l.peerFin && !now.Before(l.grace) {
		if l.pending != nil && l.pending() > 0 {
			// Messages arrived but the receiver has not run yet (a starved
			// scheduler): that is life, not silence.
			l.lastHeard = now
		} else if late > t/8 && !l.graceFor.Equal(l.lastHeard) {
			// This process itself stalled (this timer fired late): the
			// peer's messages may be unread in the socket. One more look,
			// T/4 from now, after a ping; once per silence, so the verdict
			// comes by T + T/4 of silence (plus two ticks' lateness).
			l.grace, l.graceFor = now.Add(t/4), l.lastHeard
		} else {
			l.failLocked(&SilenceError{Silence: silence, DeadInterval: t})
			return t
		}
	}
	if now.Sub(l.lastSent) >= t/4 {
		l.toAck = 0
		l.ackSent = l.consumed
		_ = l.publishLocked(encodeU64(typePing, l.nextSeq-1, l.consumed))
	}
	next := min(l.lastSent.Add(t/4).Sub(now), l.lastHeard.Add(t).Sub(now))
	if g := l.grace.Sub(now); g > 0 && g < next {
		next = g
	}
	return max(next, time.Millisecond)
}

// Close sends fin, waits (at most [CloseTimeout]) for the peer to ack
// everything sent, then unsubscribes and joins the link's goroutines.
// Blocked Reads and Writes return an error matching net.ErrClosed. It does
// not close the NATS connection. Close is idempotent and returns nil; after
// [Link.Abort] it does nothing.
func (l *Link) Close() error {
	l.end(true)
	return nil
}

// Abort ends the link at once, for a peer known to be gone (its exit
// arrived, or its host was reported down): no fin is sent and nothing
// waits for an ack; what the peer has not acked is dropped. Like Close it
// unsubscribes, joins the link's goroutines (a few microseconds: neither
// blocks on the network) and makes blocked Reads and Writes return an
// error matching net.ErrClosed; it does not close the NATS connection.
// Abort after Close, or again, does nothing.
func (l *Link) Abort() { l.end(false) }

// end is Close (fin true) or Abort.
func (l *Link) end(fin bool) {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		close(l.space)
		l.space = make(chan struct{})
		l.signalReadableLocked()
		l.mu.Unlock()

		why := "aborted"
		if fin {
			why = "closed"
			l.writeMu.Lock()
			err := l.send(typeFin, nil, true)
			l.writeMu.Unlock()
			if err == nil {
				l.waitFinAck()
			}
		}
		l.mu.Lock()
		l.failLocked(fmt.Errorf("natslink: link %s: %w", why, net.ErrClosed))
		l.mu.Unlock()
		l.wg.Wait()
		if l.sub != nil {
			_ = l.sub.Unsubscribe()
		}
		l.rdl.stop()
		l.wdl.stop()
	})
}

func (l *Link) waitFinAck() {
	timeout := time.NewTimer(CloseTimeout)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		// The peer's own fin ends the wait too: it reads nothing more, and
		// in a simultaneous close its receiver may stop before it acks ours.
		if l.err != nil || l.acked >= l.finSeq || l.peerFin {
			l.mu.Unlock()
			return
		}
		space := l.space
		l.mu.Unlock()
		select {
		case <-space:
		case <-timeout.C:
			return
		}
	}
}

// Done returns a channel closed when the link has ended: Close, silence,
// a protocol error, or its NATS connection closed.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err returns nil while the link is up, and afterwards why it ended: an
// error matching net.ErrClosed after Close, a [*SilenceError], a
// [*ProtocolError], or the NATS error that ended it.
func (l *Link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// LastHeard returns when the last message from the peer arrived (New's
// time before the first).
func (l *Link) LastHeard() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastHeard
}

// Addr is a link end's address: its subject.
type Addr string

// Network returns "nats".
func (Addr) Network() string { return "nats" }

func (a Addr) String() string { return string(a) }

// LocalAddr returns the subject this side receives on.
func (l *Link) LocalAddr() net.Addr { return Addr(l.cfg.Recv) }

// RemoteAddr returns the subject this side sends on.
func (l *Link) RemoteAddr() net.Addr { return Addr(l.cfg.Send) }

// SetDeadline sets the read and write deadlines.
func (l *Link) SetDeadline(t time.Time) error {
	l.rdl.set(t)
	l.wdl.set(t)
	return nil
}

// SetReadDeadline bounds blocked and future Reads; the zero time removes it.
func (l *Link) SetReadDeadline(t time.Time) error { l.rdl.set(t); return nil }

// SetWriteDeadline bounds blocked and future Writes; the zero time removes it.
func (l *Link) SetWriteDeadline(t time.Time) error { l.wdl.set(t); return nil }
