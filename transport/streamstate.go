package transport

import "fmt"

// A stream's lifecycle at this end is one streamState, under the stream's
// lock, moved only by streamState.next: one state for each direction (what
// this side has sent, what the peer has sent), as x/net/http2's idle, open,
// half-closed and closed and yamux's streamState, and two marks beside
// them. DESIGN.md (transport, Connections) has the table.

// sendState is where this side's direction of a stream is.
type sendState uint8

const (
	sendIdle    sendState = iota // nothing sent yet (the caller: only its Call); a callee may still send Started
	sendOpen                     // Started or a Yield went out
	sendStopped                  // this side's Stop went out: a Return or Error (callee) may still end the stream
	sendEnded                    // the stream ended: a Return or Error went out or came in
	sendClosed                   // Close was called (the stream ended then if it had not): every method fails
)

// recvState is where the peer's direction of a stream is.
type recvState uint8

const (
	recvIdle    recvState = iota // the peer sent nothing yet
	recvOpen                     // the peer sent Started or a Yield (or a Batch)
	recvStopped                  // the peer's Stop came: no Yield, Batch or Started may follow
	recvEnded                    // the stream ended: what still arrives is late, and ignored
)

// streamState is a stream's lifecycle at this end. The zero value is a
// stream just opened. The stream has ended once both directions have
// (send is sendEnded or sendClosed exactly when recv is recvEnded).
type streamState struct {
	send sendState
	recv recvState
	// final: a Return or Error of this side's is going out (send is idle,
	// open or stopped, and stays so if it does not go out: the callee may
	// try again).
	final bool
	// canceled: the caller sent Cancel, or the connection ended. The caller
	// may cancel in any state of either direction, so it is a mark, not a
	// state of its own.
	canceled bool
}

// streamEvent is what can happen to a stream.
type streamEvent uint8

const (
	// This side's application sends (a refusal is its mistake: an error).
	evSendStarted streamEvent = iota // Started (callee)
	evSendYield                      // one or more Yields (in Batch frames too)
	evSendStop                       // Stop
	evSendCancel                     // Cancel (caller)
	evSendFinal                      // a Return or Error begins to go out (callee)
	evFinalFailed                    // it did not go out
	evFinalSent                      // it went out: the stream ends
	evClose                          // Close

	// The peer sends (a refusal is a protocol violation).
	evRecvStarted // Started (from the callee)
	evRecvYield   // a Yield or a Batch
	evRecvStop    // Stop
	evRecvFinal   // Return or Error (from the callee): the stream ends
	evRecvCancel  // Cancel (from the caller)
	evRecvCredit  // Credit

	evConnEnded // the connection ended

	numStreamEvents
)

var (
	streamEventNames = []string{
		"send Started", "send Yield", "send Stop", "send Cancel", "send Return or Error",
		"final not sent", "final sent", "Close",
		"receive Started", "receive Yield", "receive Stop", "receive Return or Error",
		"receive Cancel", "receive Credit", "connection ended",
	}
	sendStateNames = []string{"idle", "open", "stopped", "ended", "closed"}
	recvStateNames = []string{"idle", "open", "stopped", "ended"}
)

// name returns names[v], or type(v) for a value without a name.
func name[T ~uint8](names []string, v T, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

func (e streamEvent) String() string { return name(streamEventNames, e, "streamEvent") }
func (s sendState) String() string   { return name(sendStateNames, s, "sendState") }
func (s recvState) String() string   { return name(recvStateNames, s, "recvState") }

func (st streamState) String() string {
	s := "send " + st.send.String() + ", receive " + st.recv.String()
	if st.final {
		s += ", final going out"
	}
	if st.canceled {
		s += ", canceled"
	}
	return s
}

// verdict is what streamState.next says of an event.
type verdict uint8

const (
	accept verdict = iota // the event happens; the state moves on (or stays)
	ignore                // nothing happens: a late frame for an ended stream, a Cancel or a Close again

	// This side's sends refused: the Stream's method returns an error.
	refuseClosed     // Close was called
	refuseCalleeOnly // Started, Return or Error from the caller
	refuseCallerOnly // Cancel from the callee
	refuseStarted    // Started after Started or a Yield
	refuseFinished   // after this side's Stop, Return or Error, or the stream's end

	// The peer's frames refused: protocol violations.
	violFromCaller  // Started, Return or Error from the caller
	violFromCallee  // Cancel from the callee
	violLateStarted // Started after Started, a Yield or Stop
	violAfterStop   // a Yield or Batch after Stop
	violSecondStop  // a second Stop

	// impossible: a transition no peer and no application can cause, only
	// a defect in this package. Stream.step panics on it.
	impossible
)

// ended reports whether the stream has ended at this end.
func (st streamState) ended() bool { return st.recv == recvEnded }

// endAs ends both directions, this side's as send (sendEnded or
// sendClosed).
func (st streamState) endAs(send sendState) streamState {
	st.send, st.recv, st.final = send, recvEnded, false
	return st
}

// next is the transition function: the state after ev on a stream of
// this role (caller: this side sent the Call), and whether ev may happen.
// A refusal leaves the state unchanged. It is pure, and cheap enough for
// every Yield.
func (st streamState) next(ev streamEvent, caller bool) (streamState, verdict) {
	switch ev {
	case evSendStarted, evSendYield, evSendStop, evSendFinal:
		return st.sending(ev, caller)
	case evSendCancel:
		switch {
		case !caller:
			return st, refuseCallerOnly
		case st.ended():
			return st, ignore
		}
		return st, accept
	case evFinalFailed, evFinalSent:
		switch {
		case st.final && ev == evFinalFailed:
			st.final = false
			return st, accept
		case st.final:
			return st.endAs(sendEnded), accept
		case st.send == sendClosed: // a Close while it went out ended the stream
			return st, ignore
		}
		return st, impossible
	case evClose:
		if st.send == sendClosed {
			return st, ignore
		}
		return st.endAs(sendClosed), accept
	case evConnEnded:
		st.canceled = true
		return st, accept
	case evRecvStarted, evRecvYield, evRecvStop, evRecvFinal, evRecvCancel, evRecvCredit:
		return st.receiving(ev, caller)
	}
	return st, impossible
}

// sending is next for this side's sends.
func (st streamState) sending(ev streamEvent, caller bool) (streamState, verdict) {
	switch {
	case st.send == sendClosed:
		return st, refuseClosed
	case caller && (ev == evSendStarted || ev == evSendFinal):
		return st, refuseCalleeOnly
	case ev == evSendStarted && st.send == sendOpen:
		return st, refuseStarted
	case st.send == sendEnded || st.final || (st.send == sendStopped && ev != evSendFinal):
		return st, refuseFinished
	}
	switch ev {
	case evSendStarted, evSendYield:
		st.send = sendOpen
	case evSendStop:
		st.send = sendStopped
	default: // evSendFinal
		st.final = true
	}
	return st, accept
}

// receiving is next for the peer's frames. Anything for an ended stream
// is late and ignored (PROTOCOL.md section 7), even what would have been
// a violation while it was live.
func (st streamState) receiving(ev streamEvent, caller bool) (streamState, verdict) {
	if st.ended() {
		return st, ignore
	}
	switch ev {
	case evRecvStarted, evRecvFinal:
		switch {
		case !caller:
			return st, violFromCaller
		case ev == evRecvFinal:
			return st.endAs(sendEnded), accept
		case st.recv != recvIdle:
			return st, violLateStarted
		}
		st.recv = recvOpen
	case evRecvYield:
		if st.recv == recvStopped {
			return st, violAfterStop
		}
		st.recv = recvOpen
	case evRecvStop:
		if st.recv == recvStopped {
			return st, violSecondStop
		}
		st.recv = recvStopped
	case evRecvCancel:
		if caller {
			return st, violFromCallee
		}
		st.canceled = true
	}
	return st, accept // evRecvCredit: allowed in every live state (a stopped direction's included)
}

// step applies ev to the stream's state and returns the verdict. It
// panics on an impossible transition, a defect in this package, once the
// lock is released.
func (s *Stream) step(ev streamEvent) verdict {
	s.mu.Lock()
	before := s.st
	next, v := before.next(ev, s.outgoing)
	if v == accept {
		s.st = next
	}
	s.mu.Unlock()
	if v == impossible {
		panic(fmt.Sprintf("transport: stream %d: %s in state %s (a defect in transport)", s.id, ev, before))
	}
	return v
}

// refusal returns the error of a refused event, for a frame of kind: nil
// when v accepts or ignores it.
func (s *Stream) refusal(v verdict, kind Kind) error {
	switch v {
	case accept, ignore:
		return nil
	case refuseClosed:
		return ErrStreamClosed
	case refuseCalleeOnly:
		return fmt.Errorf("transport: %s on stream %d: only the callee may send it", kind, s.id)
	case refuseCallerOnly:
		return fmt.Errorf("transport: %s on stream %d: only the caller may cancel", kind, s.id)
	case refuseStarted:
		return fmt.Errorf("transport: Started on stream %d after Started or Yield", s.id)
	case refuseFinished:
		return fmt.Errorf("%w: %s on stream %d after this side finished sending", ErrStreamClosed, kind, s.id)
	case violFromCaller:
		return protocolError("%s on stream %d from the caller", kind, s.id)
	case violFromCallee:
		return protocolError("%s on stream %d from the callee", kind, s.id)
	case violLateStarted:
		return protocolError("Started on stream %d after Started, Yield or Stop", s.id)
	case violAfterStop:
		return protocolError("%s after Stop on stream %d", kind, s.id)
	case violSecondStop:
		return protocolError("a second Stop on stream %d", s.id)
	}
	return fmt.Errorf("transport: %s on stream %d refused (verdict %d)", kind, s.id, v)
}
