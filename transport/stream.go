package transport

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// A Stream is one call on a connection: the caller's side (from
// [Conn.Call]) or the callee's (from [Conn.Accept]). Its methods are safe
// for concurrent use.
//
// The dialog (PROTOCOL.md has it byte by byte): the callee may send Started
// once, then Yields, then Stop; the caller may send Yields and Stop too (a
// duplex stream); the callee ends the stream with Return or Fail. The caller
// may Cancel, after which the callee should end the stream promptly.
type Stream struct {
	c        *Conn
	id       uint64
	outgoing bool // this side sent the Call
	fn       string
	args     msgpack.RawMessage
	md       Metadata // the Call's, on the callee's side
	in       queue[*Message]

	mu            sync.Mutex
	credit        int           // Yields this side may still send
	allowance     int           // Yields the peer may still send
	consumed      int           // Yields received since this side last granted credit
	consumedBytes int           // their payloads' bytes
	window        int           // the Yields this side lets be outstanding (0: the configured window)
	creditReady   chan struct{} // capacity 1: made by the first Yield that waits for credit
	st            streamState   // each direction's state, moved by streamState.next (streamstate.go)

	// canceled is made by the first who waits for the cancel (Canceled,
	// a callee's Yield waiting for credit): most calls never do; it is
	// closed once st.canceled is set. Under mu.
	canceled chan struct{}

	// The callee's context for the call (the caller's side has its own per
	// method): derived from the base context, ended by endContext.
	ctx    context.Context
	endCtx context.CancelCauseFunc
}

func newStream(c *Conn, id uint64, outgoing bool, peerWindow uint32) *Stream {
	s := &Stream{
		c:         c,
		id:        id,
		outgoing:  outgoing,
		credit:    int(peerWindow),
		allowance: c.cfg.window,
	}
	s.in.init(&c.rd)
	s.in.split = splitBatch
	if outgoing {
		s.ctx = c.cfg.baseContext
	} else {
		s.ctx, s.endCtx = context.WithCancelCause(c.cfg.baseContext)
	}
	return s
}

// ID returns the stream id.
func (s *Stream) ID() uint64 { return s.id }

// Func returns the function name the Call named (on the callee's side).
func (s *Stream) Func() string { return s.fn }

// Args returns the Call's raw payload (on the callee's side).
func (s *Stream) Args() msgpack.RawMessage { return s.args }

// DecodeArgs decodes the Call's payload into v (on the callee's side).
func (s *Stream) DecodeArgs(v any) error {
	m := Message{Kind: KindCall, Payload: s.args}
	return m.Decode(v)
}

// Canceled returns a channel closed when the caller sent Cancel, or the
// connection ended. The callee cancels its work when it is closed, or
// when [Stream.Context] is done, which says why.
func (s *Stream) Canceled() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceledLocked()
}

// canceledLocked returns the channel Canceled returns, making it if need
// be. Call with s.mu held.
func (s *Stream) canceledLocked() <-chan struct{} {
	if s.canceled == nil {
		s.canceled = make(chan struct{})
		if s.st.canceled {
			close(s.canceled)
		}
	}
	return s.canceled
}

// Peer returns the Hello of the connection's peer: who sent the call, and
// the role it announced, for a handler that serves several kinds of peer.
// It is the Hello the handshake read ([Conn.Peer]), copied, and never
// blocks.
func (s *Stream) Peer() Hello { return s.c.peer }

// Context returns the context of the call on the callee's side, as
// net/http's Request.Context: it derives from the connection's base
// context ([WithBaseContext]) and carries its values, and it ends, with a
// cause, when the caller sends Cancel ([ErrCanceled]), when the connection
// ends (its error, matching [ErrClosed]), when the base context ends (its
// cause), and once the stream has been answered (Return, Fail or Close) or
// its handler ([WithHandler]) has returned ([context.Canceled]). It costs
// no goroutine. On the caller's side, whose methods each take a ctx, it is
// the base context.
func (s *Stream) Context() context.Context { return s.ctx }

// closeCanceled marks the stream canceled by the connection's end: it
// closes Canceled and ends the callee's context with cause.
func (s *Stream) closeCanceled(cause error) { s.cancel(evConnEnded, cause) }

// cancel applies ev, the caller's Cancel or the connection's end; if
// accepted, it closes Canceled and ends the callee's context with cause.
func (s *Stream) cancel(ev streamEvent, cause error) verdict {
	s.mu.Lock()
	next, v := s.st.next(ev, s.outgoing)
	if v == accept {
		if !s.st.canceled && s.canceled != nil {
			close(s.canceled)
		}
		s.st = next
	}
	s.mu.Unlock()
	if v == accept {
		s.endContext(cause)
	}
	return v
}

// endContext ends the callee's context with cause (context.Canceled when
// nil); a later cause changes nothing.
func (s *Stream) endContext(cause error) {
	if s.endCtx != nil {
		s.endCtx(cause)
	}
}

// Recv returns the next message the peer sent on this stream: for the
// caller, Started, Yield, Stop, and finally Return or Error; for the callee,
// Yield and Stop. After the last of them it returns io.EOF. It blocks until
// a message arrives, honouring ctx; if the connection ends first it returns
// the connection's error (after any messages that arrived before). Taking a
// Yield grants the peer more credit as needed. While it waits and no other
// goroutine reads the connection, Recv reads it itself and routes what it
// reads for other streams, so that its answer costs no goroutine handoff;
// it still returns as soon as ctx ends or another goroutine closes the
// stream.
func (s *Stream) Recv(ctx context.Context) (*Message, error) {
	m, err := s.in.pop(ctx, s.c.done)
	if err != nil {
		if !errors.Is(err, errQueueDone) {
			return nil, err
		}
		s.mu.Lock()
		closed := s.st.send == sendClosed
		s.mu.Unlock()
		switch {
		case closed:
			return nil, ErrStreamClosed
		case s.in.isClosed():
			return nil, io.EOF
		}
		return nil, s.c.Err()
	}
	if m.Kind == KindYield {
		s.consumedYields(1, len(m.Payload))
	}
	return m, nil
}

// Small items get a larger window, unless WithWindow fixed it: while the
// Yields a stream's application takes are small, the receiver grants
// credit beyond its window, up to maxWindowGrowth times it, so that about
// smallItemBudget bytes of them are in flight (at their recent mean size),
// as yamux's and HTTP/2's windows, counted in bytes, let more small frames
// fly than large ones. It is this side's grant policy (PROTOCOL.md,
// section 9): the wire is unchanged, and the window comes back down, by
// granting less, when the items grow.
const (
	smallItemBudget = 128 << 10
	maxWindowGrowth = 16
)

// grownWindow returns the window to grant for n Yields of size bytes in
// all (n ≥ 1), from this side's window base.
func grownWindow(base, n, size int) int {
	mean := max(1, size/n)
	return min(max(base, smallItemBudget/mean), base*maxWindowGrowth, maxWindow)
}

// consumedYields counts n Yields of size payload bytes in all taken by the
// application and grants the peer credit once half the window has been
// taken: as much as was taken, plus or minus the window's change.
func (s *Stream) consumedYields(n, size int) {
	s.mu.Lock()
	if s.window == 0 {
		s.window = s.c.cfg.window
	}
	s.consumed += n
	s.consumedBytes += size
	grant := 0
	if s.consumed >= max(1, s.window/2) && !s.st.ended() {
		// outstanding is the peer's credit plus the items in flight or
		// queued here: what the window grows or shrinks from.
		outstanding := s.window - s.consumed
		target := s.c.cfg.window
		if !s.c.cfg.fixedWindow {
			target = grownWindow(target, s.consumed, s.consumedBytes)
		}
		s.window = max(target, outstanding)
		grant, s.consumed, s.consumedBytes = s.window-outstanding, 0, 0
	}
	s.mu.Unlock()
	if grant > 0 {
		// The peer may use the credit once it can have read it: the
		// allowance grows when the Credit is taken for writing, not when it
		// is queued, so a peer that does not read cannot make this side
		// queue Credit after Credit.
		s.c.sendControl(&Message{Kind: KindCredit, ID: s.id, Credit: uint32(grant)}, ownControl, func() {
			s.mu.Lock()
			s.allowance += grant
			s.mu.Unlock()
		})
	}
}

// Started sends the first value of a streaming call (callee only, at most
// once, before any Yield). It returns once the frame is queued.
func (s *Stream) Started(ctx context.Context, v any) error {
	if err := s.refusal(s.step(evSendStarted), KindStarted); err != nil {
		return err
	}
	return s.c.send(ctx, &Message{Kind: KindStarted, ID: s.id}, v, dataFrame)
}

// Yield sends one stream item. It blocks while the peer has no room for it
// (no credit left), honouring ctx, and returns once the item is queued.
// Items queued while the connection's writer is busy leave together, in
// one Batch frame, when the peer accepts batches ([Hello.Batch]). On
// the callee's side it fails with [ErrCanceled] once the caller canceled:
// the callee should then end the stream with Return or Fail.
func (s *Stream) Yield(ctx context.Context, v any) error {
	if _, err := s.takeCredit(ctx, 1); err != nil {
		return err
	}
	var err error
	if s.c.peer.Batch > 0 {
		err = s.c.sendItem(ctx, s.id, v) // coalesced into Batch frames
	} else {
		err = s.c.send(ctx, &Message{Kind: KindYield, ID: s.id}, v, dataFrame)
	}
	if err != nil {
		s.addCredit(1) // the item did not go out
	}
	return err
}

// YieldMany sends items as as many Yields, in order, and returns how many
// it queued (all of them, unless it returns an error). It blocks, as Yield
// does, while the peer has no credit left, and sends as many items as it
// has credit for at a time: when the peer accepts batches, each such run
// costs one lock of the stream, one encoder and one lock of the writer,
// and leaves in as few Batch frames as the limits allow, where Yield costs
// each per item. A pointer to an item encodes as the item; a
// *msgpack.RawMessage is checked and sent as a raw item, as a
// [msgpack.RawMessage] given to Yield is, without msgpack's reflection.
func (s *Stream) YieldMany(ctx context.Context, items []any) (sent int, err error) {
	for sent < len(items) {
		k, err := s.takeCredit(ctx, len(items)-sent)
		if err != nil {
			return sent, err
		}
		run, n := items[sent:sent+k], 0
		if s.c.peer.Batch > 0 {
			n, err = s.c.sendItems(ctx, s.id, run)
		} else {
			for n < len(run) {
				if err = s.c.send(ctx, &Message{Kind: KindYield, ID: s.id}, derefRaw(run[n]), dataFrame); err != nil {
					break
				}
				n++
			}
		}
		if n < k {
			s.addCredit(k - n) // the rest did not go out
		}
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// takeCredit takes the credit for up to n Yields (n ≥ 1), at least one,
// waiting for it while the peer has granted none, and returns how many it
// took.
func (s *Stream) takeCredit(ctx context.Context, n int) (int, error) {
	for {
		s.mu.Lock()
		if !s.outgoing && s.st.canceled {
			s.mu.Unlock()
			if err := s.c.Err(); err != nil {
				return 0, err
			}
			return 0, ErrCanceled
		}
		next, v := s.st.sending(evSendYield, s.outgoing) // next, inlined: once per Yield
		if v != accept {
			s.mu.Unlock()
			return 0, s.refusal(v, KindYield)
		}
		if s.credit > 0 {
			k := min(n, s.credit)
			s.credit -= k
			s.st = next
			ready := s.creditReady
			left := s.credit > 0
			s.mu.Unlock()
			if left && ready != nil {
				// One wake-up stands for a whole Credit: pass it on to
				// another Yield waiting, for what is left of it.
				select {
				case ready <- struct{}{}:
				default:
				}
			}
			return k, nil
		}
		if s.creditReady == nil {
			s.creditReady = make(chan struct{}, 1)
		}
		ready := s.creditReady
		var canceled <-chan struct{} // the caller's side: the connection's end is c.done
		if !s.outgoing {
			canceled = s.canceledLocked()
		}
		s.mu.Unlock()
		select {
		case <-ready:
		case <-canceled: // checked at the top of the loop
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.c.done:
			return 0, s.c.Err()
		}
	}
}

func (s *Stream) addCredit(n int) {
	s.mu.Lock()
	s.credit += n
	ready := s.creditReady // nil while no Yield has waited: none to wake
	s.mu.Unlock()
	if ready != nil {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
}

// Stop ends this side's direction of the stream; the peer's Recv sees it.
func (s *Stream) Stop(ctx context.Context) error {
	if err := s.refusal(s.step(evSendStop), KindStop); err != nil {
		return err
	}
	return s.c.send(ctx, &Message{Kind: KindStop, ID: s.id}, nil, dataFrame)
}

// Return ends the stream with its final value (callee only).
func (s *Stream) Return(ctx context.Context, v any) error {
	return s.end(ctx, &Message{Kind: KindReturn, ID: s.id}, v)
}

// Fail ends the stream with a remote error (callee only).
func (s *Stream) Fail(ctx context.Context, e *ErrorInfo) error {
	return s.end(ctx, &Message{Kind: KindError, ID: s.id, Err: e}, nil)
}

func (s *Stream) end(ctx context.Context, m *Message, v any) error {
	// A concurrent Return or Fail now fails, and so does every send.
	if err := s.refusal(s.step(evSendFinal), m.Kind); err != nil {
		return err
	}
	sent := false
	defer func() {
		if !sent { // an error, or a panic in v's own encoder: nothing went out
			s.step(evFinalFailed) // the callee may try again (a Fail that says why)
		}
	}()
	if err := s.c.send(ctx, m, v, dataFrame); err != nil {
		return err
	}
	sent = true
	if s.step(evFinalSent) == accept { // else a Close while it went out ended the stream
		s.finish()
	}
	return nil
}

// Cancel asks the callee to cancel the call (caller only). The stream still
// ends with the callee's Return or Error; Recv waits for it.
func (s *Stream) Cancel(ctx context.Context) error {
	if v := s.step(evSendCancel); v != accept {
		return s.refusal(v, KindCancel) // nil once the stream has ended
	}
	return s.c.send(ctx, &Message{Kind: KindCancel, ID: s.id}, nil, ownControl)
}

// Close releases the stream. A caller that closes a stream before its end
// cancels the call; a callee that closes it without Return or Fail sends
// an error saying so. Later Recv and sends return [ErrStreamClosed]. Close
// does not block.
func (s *Stream) Close() error {
	s.mu.Lock()
	live := !s.st.ended()
	next, v := s.st.next(evClose, s.outgoing)
	s.st = next
	s.mu.Unlock()
	if v == ignore { // closed already
		return nil
	}
	if live {
		if s.outgoing {
			s.c.sendControl(&Message{Kind: KindCancel, ID: s.id}, ownControl, nil)
		} else {
			s.c.sendControl(&Message{Kind: KindError, ID: s.id, Err: &ErrorInfo{
				Type:    "transport.ErrStreamClosed",
				Message: "transport: stream closed by the callee without a result",
				Source:  s.c.local.Actor,
			}}, answerControl, nil) // answers the peer's Call, as a refusal does
		}
		s.finish()
	}
	s.in.close()
	return nil
}

// finish removes a stream that has just ended (its state says so) from the
// connection.
func (s *Stream) finish() {
	s.c.remove(s)
	s.addCredit(0) // wake a Yield waiting for credit
	s.endContext(nil)
}

// deliver hands a received message to the stream; called by the reader.
// It never blocks. An error is a protocol violation by the peer; a message
// for a stream that has ended is ignored.
func (s *Stream) deliver(m *Message) error {
	switch m.Kind {
	case KindCredit:
		s.mu.Lock()
		_, v := s.st.next(evRecvCredit, s.outgoing) // no state change: accepted while live
		// In int64: on a 32-bit platform int(m.Credit) of 2^31 or more is
		// negative, and would take credit away instead of overflowing.
		over := int64(s.credit)+int64(m.Credit) > math.MaxInt32
		s.mu.Unlock()
		switch {
		case v != accept:
			return nil
		case over:
			return protocolError("credit overflow on stream %d", s.id)
		}
		s.addCredit(int(m.Credit))
		return nil
	case KindCancel:
		return s.refusal(s.cancel(evRecvCancel, ErrCanceled), m.Kind)
	case KindStarted, KindReturn, KindError:
		ev := evRecvFinal
		if m.Kind == KindStarted {
			ev = evRecvStarted
		}
		if v := s.step(ev); v != accept {
			return s.refusal(v, m.Kind)
		}
		s.in.push(m)
		if ev == evRecvFinal {
			s.in.close()
			s.finish()
		}
		return nil
	case KindYield:
		if ok, err := s.receivedItems(KindYield, 1); !ok {
			return err
		}
		s.in.push(m) // dropped if this side closed the stream
		return nil
	case KindBatch:
		return s.deliverBatch(m)
	case KindStop:
		if v := s.step(evRecvStop); v != accept {
			return s.refusal(v, m.Kind)
		}
		s.in.push(m)
		if !s.outgoing {
			s.in.close() // the caller sends nothing after Stop
		}
		return nil
	}
	return protocolError("unexpected %s on stream %d", m.Kind, s.id)
}
