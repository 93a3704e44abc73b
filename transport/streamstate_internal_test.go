package transport

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The transition function's specification, written from PROTOCOL.md
// sections 7 and 9 (and, for this side's own sends, from the Stream's
// doc comments), one matrix per role and direction. A cell is what the
// event does from the row's state:
//
//	"open", "stopped", "idle+final", ...  accepted: the direction moves there
//	"="         accepted: nothing changes
//	"end"       accepted: the stream ends (this side's direction: ended)
//	"close"     accepted: this side's direction closed, and the stream ended
//	"canceled"  accepted: the stream is marked canceled
//	a verdict   refused (or ignored, or impossible): nothing changes
var (
	sendEvents = []streamEvent{evSendStarted, evSendYield, evSendStop, evSendFinal, evFinalFailed, evFinalSent, evClose, evSendCancel}
	recvEvents = []streamEvent{evRecvStarted, evRecvYield, evRecvStop, evRecvFinal, evRecvCancel, evRecvCredit}
)

// calleeSends[row] is this side's direction on the callee, under
// sendEvents.
var calleeSends = map[string][]string{
	// Started, Yield, Stop, Return/Error, final not sent, final sent, Close, Cancel
	"idle":          {"open", "open", "stopped", "idle+final", "impossible", "impossible", "close", "refuseCallerOnly"},
	"open":          {"refuseStarted", "open", "stopped", "open+final", "impossible", "impossible", "close", "refuseCallerOnly"},
	"stopped":       {"refuseFinished", "refuseFinished", "refuseFinished", "stopped+final", "impossible", "impossible", "close", "refuseCallerOnly"},
	"idle+final":    {"refuseFinished", "refuseFinished", "refuseFinished", "refuseFinished", "idle", "end", "close", "refuseCallerOnly"},
	"open+final":    {"refuseStarted", "refuseFinished", "refuseFinished", "refuseFinished", "open", "end", "close", "refuseCallerOnly"},
	"stopped+final": {"refuseFinished", "refuseFinished", "refuseFinished", "refuseFinished", "stopped", "end", "close", "refuseCallerOnly"},
	"ended":         {"refuseFinished", "refuseFinished", "refuseFinished", "refuseFinished", "impossible", "impossible", "close", "refuseCallerOnly"},
	"closed":        {"refuseClosed", "refuseClosed", "refuseClosed", "refuseClosed", "ignore", "ignore", "ignore", "refuseCallerOnly"},
}

// callerSends is calleeSends for the caller, which never sends Started,
// Return or Error (so has no final states) and may Cancel until the end.
var callerSends = map[string][]string{
	"idle":    {"refuseCalleeOnly", "open", "stopped", "refuseCalleeOnly", "impossible", "impossible", "close", "="},
	"open":    {"refuseCalleeOnly", "open", "stopped", "refuseCalleeOnly", "impossible", "impossible", "close", "="},
	"stopped": {"refuseCalleeOnly", "refuseFinished", "refuseFinished", "refuseCalleeOnly", "impossible", "impossible", "close", "="},
	"ended":   {"refuseCalleeOnly", "refuseFinished", "refuseFinished", "refuseCalleeOnly", "impossible", "impossible", "close", "ignore"},
	"closed":  {"refuseClosed", "refuseClosed", "refuseClosed", "refuseClosed", "ignore", "ignore", "ignore", "ignore"},
}

// callerReceives[row] is the peer's direction on the caller (the peer is
// the callee), under recvEvents.
var callerReceives = map[string][]string{
	// Started, Yield/Batch, Stop, Return/Error, Cancel, Credit
	"idle":    {"open", "open", "stopped", "end", "violFromCallee", "="},
	"open":    {"violLateStarted", "open", "stopped", "end", "violFromCallee", "="},
	"stopped": {"violLateStarted", "violAfterStop", "violSecondStop", "end", "violFromCallee", "="},
	"ended":   {"ignore", "ignore", "ignore", "ignore", "ignore", "ignore"},
}

// calleeReceives is callerReceives on the callee (the peer is the caller).
var calleeReceives = map[string][]string{
	"idle":    {"violFromCaller", "open", "stopped", "violFromCaller", "canceled", "="},
	"open":    {"violFromCaller", "open", "stopped", "violFromCaller", "canceled", "="},
	"stopped": {"violFromCaller", "violAfterStop", "violSecondStop", "violFromCaller", "canceled", "="},
	"ended":   {"ignore", "ignore", "ignore", "ignore", "ignore", "ignore"},
}

var verdictNames = map[string]verdict{
	"ignore": ignore, "impossible": impossible,
	"refuseClosed": refuseClosed, "refuseCalleeOnly": refuseCalleeOnly, "refuseCallerOnly": refuseCallerOnly,
	"refuseStarted": refuseStarted, "refuseFinished": refuseFinished,
	"violFromCaller": violFromCaller, "violFromCallee": violFromCallee, "violLateStarted": violLateStarted,
	"violAfterStop": violAfterStop, "violSecondStop": violSecondStop,
}

// sendRow names this side's direction of st as the matrices do.
func sendRow(st streamState) string {
	if st.final {
		return st.send.String() + "+final"
	}
	return st.send.String()
}

// reachable returns every state a stream of the role can be in: each
// direction's state, with or without the canceled mark, and with or
// without a final going out (the callee's only, before the end).
func reachable(caller bool) []streamState {
	var all []streamState
	for _, canceled := range []bool{false, true} {
		for send := sendIdle; send <= sendClosed; send++ {
			for recv := recvIdle; recv <= recvEnded; recv++ {
				if (send >= sendEnded) != (recv == recvEnded) {
					continue // ended is both directions at once
				}
				for _, final := range []bool{false, true} {
					if final && (caller || send >= sendEnded) {
						continue
					}
					all = append(all, streamState{send: send, recv: recv, final: final, canceled: canceled})
				}
			}
		}
	}
	return all
}

// want applies a matrix cell to st.
func want(t *testing.T, st streamState, ev streamEvent, cell string) (streamState, verdict) {
	t.Helper()
	if v, ok := verdictNames[cell]; ok {
		return st, v
	}
	switch cell {
	case "=":
	case "end":
		st.send, st.recv, st.final = sendEnded, recvEnded, false
	case "close":
		st.send, st.recv, st.final = sendClosed, recvEnded, false
	case "canceled":
		st.canceled = true
	default:
		half, final := strings.CutSuffix(cell, "+final")
		if ev >= evRecvStarted {
			st.recv = map[string]recvState{"open": recvOpen, "stopped": recvStopped}[half]
			require.NotZero(t, st.recv, "cell %q", cell)
			return st, accept
		}
		s, ok := map[string]sendState{"idle": sendIdle, "open": sendOpen, "stopped": sendStopped}[half]
		require.True(t, ok, "cell %q", cell)
		st.send, st.final = s, final
	}
	return st, accept
}

// TestStreamTransitions checks streamState.next against the matrices for
// every reachable state, every event and both roles: allowed, ignored or
// refused, and where an accepted event leads.
func TestStreamTransitions(t *testing.T) {
	t.Parallel()
	for _, caller := range []bool{false, true} {
		sends, recvs := calleeSends, calleeReceives
		if caller {
			sends, recvs = callerSends, callerReceives
		}
		pairs := 0
		for _, st := range reachable(caller) {
			for ev := range numStreamEvents {
				var cell string
				switch {
				case ev == evConnEnded:
					cell = "canceled" // the connection's end cancels every stream, ended or not
				case ev >= evRecvStarted:
					row, ok := recvs[st.recv.String()]
					require.True(t, ok, "no receiving row for %s", st)
					cell = row[indexOf(recvEvents, ev)]
				default:
					row, ok := sends[sendRow(st)]
					require.True(t, ok, "no sending row for %s", st)
					cell = row[indexOf(sendEvents, ev)]
				}
				wantSt, wantV := want(t, st, ev, cell)
				gotSt, gotV := st.next(ev, caller)
				require.Equal(t, wantV, gotV, "caller %v, %s in state %s: want %s", caller, ev, st, cell)
				require.Equal(t, wantSt, gotSt, "caller %v, %s in state %s: want %s", caller, ev, st, cell)
				if gotV == accept {
					require.Equal(t, gotSt.send >= sendEnded, gotSt.ended(), "%s leads to %s", ev, gotSt)
					require.False(t, gotSt.final && gotSt.send >= sendEnded, "%s leads to %s", ev, gotSt)
				}
				pairs++
			}
		}
		require.Equal(t, len(reachable(caller))*int(numStreamEvents), pairs)
	}
}

func indexOf(evs []streamEvent, ev streamEvent) int {
	for i, e := range evs {
		if e == ev {
			return i
		}
	}
	panic("no column for " + ev.String())
}

// TestStreamRefusals checks the error of each refusal: this side's
// mistakes name the fix or match ErrStreamClosed, the peer's match
// ErrProtocol, and an ignored or accepted event has none.
func TestStreamRefusals(t *testing.T) {
	t.Parallel()
	s := &Stream{id: 7}
	for _, tc := range []struct {
		v        verdict
		kind     Kind
		is       error
		contains string
	}{
		{accept, KindYield, nil, ""},
		{ignore, KindYield, nil, ""},
		{refuseClosed, KindYield, ErrStreamClosed, "stream closed"},
		{refuseCalleeOnly, KindReturn, nil, "Return on stream 7: only the callee may send it"},
		{refuseCallerOnly, KindCancel, nil, "Cancel on stream 7: only the caller may cancel"},
		{refuseStarted, KindStarted, nil, "Started on stream 7 after Started or Yield"},
		{refuseFinished, KindStop, ErrStreamClosed, "Stop on stream 7 after this side finished sending"},
		{violFromCaller, KindStarted, ErrProtocol, "Started on stream 7 from the caller"},
		{violFromCallee, KindCancel, ErrProtocol, "Cancel on stream 7 from the callee"},
		{violLateStarted, KindStarted, ErrProtocol, "Started on stream 7 after Started, Yield or Stop"},
		{violAfterStop, KindBatch, ErrProtocol, "Batch after Stop on stream 7"},
		{violSecondStop, KindStop, ErrProtocol, "a second Stop on stream 7"},
	} {
		err := s.refusal(tc.v, tc.kind)
		if tc.contains == "" {
			require.NoError(t, err, "verdict %d", tc.v)
			continue
		}
		require.ErrorContains(t, err, tc.contains)
		if tc.is != nil {
			require.ErrorIs(t, err, tc.is)
		}
		if tc.is != ErrProtocol {
			require.False(t, errors.Is(err, ErrProtocol), "this side's mistake is no protocol violation: %v", err)
		}
	}
}

// TestStreamStepPanicsOnAnImpossibleTransition: a transition only a
// defect in transport could ask for panics, naming the event and state,
// and leaves the stream's lock free.
func TestStreamStepPanicsOnAnImpossibleTransition(t *testing.T) {
	t.Parallel()
	s := &Stream{id: 3}
	require.PanicsWithValue(t, "transport: stream 3: final sent in state send open, receive idle (a defect in transport)", func() {
		s.st.send = sendOpen
		s.step(evFinalSent)
	})
	require.True(t, s.mu.TryLock(), "the lock was released before the panic")
	s.mu.Unlock()
	_, v := streamState{}.next(numStreamEvents, false)
	require.Equal(t, impossible, v)
	require.Len(t, streamEventNames, int(numStreamEvents), "every event has a name")
	require.Len(t, sendStateNames, int(sendClosed)+1)
	require.Len(t, recvStateNames, int(recvEnded)+1)
	require.Equal(t, "streamEvent(15)", numStreamEvents.String())
	require.Equal(t, "send ended, receive ended, canceled", streamState{send: sendEnded, recv: recvEnded, canceled: true}.String())
	require.Equal(t, "sendState(9)", sendState(9).String())
	require.Equal(t, "recvState(9)", recvState(9).String())
}

// BenchmarkStreamTransition is the state machine's cost on the hot
// paths: a Yield sent (takeCredit) and one received (receivedItems).
func BenchmarkStreamTransition(b *testing.B) {
	st := streamState{send: sendOpen, recv: recvOpen}
	b.Run("send Yield", func(b *testing.B) {
		for b.Loop() {
			st, _ = st.sending(evSendYield, false)
		}
	})
	b.Run("receive Yield", func(b *testing.B) {
		for b.Loop() {
			st, _ = st.receiving(evRecvYield, true)
		}
	})
}

// TestDeliverToAnEndedStream: a frame for a stream that has ended at this
// end but not yet left the connection's map (it ends on another goroutine
// while the reader delivers) is ignored like one that arrives after,
// whatever it is: nothing is queued, no credit added, no cancel marked.
func TestDeliverToAnEndedStream(t *testing.T) {
	t.Parallel()
	for _, caller := range []bool{false, true} {
		s := &Stream{id: 2, outgoing: caller, c: &Conn{}}
		s.c.local.Batch = maxBatchItems
		s.st = streamState{send: sendEnded, recv: recvEnded}
		batch := Message{Kind: KindBatch, ID: 2, Payload: []byte{0x92, 1, 2}}
		for _, m := range []Message{
			{Kind: KindStarted}, {Kind: KindYield}, batch, {Kind: KindStop}, {Kind: KindStop},
			{Kind: KindReturn}, {Kind: KindError}, {Kind: KindCancel}, {Kind: KindCredit, Credit: 1 << 31},
		} {
			m.ID = 2
			require.NoError(t, s.deliver(&m), "caller %v: %s", caller, m.Kind)
		}
		require.Equal(t, streamState{send: sendEnded, recv: recvEnded}, s.st)
		require.Empty(t, s.in.items, "nothing queued")
		require.False(t, s.in.closed)
		require.Zero(t, s.credit)
		require.Zero(t, s.allowance)
	}
}

// TestPeerNeverReachesAnImpossibleTransition walks every state a stream
// can reach from its start, by any of the peer's frames and any of this
// side's calls (a Return or Error's outcome only while one is going out,
// or after a Close raced it, as Stream.end reports them): none may be
// impossible, and every state reached is one of reachable's.
func TestPeerNeverReachesAnImpossibleTransition(t *testing.T) {
	t.Parallel()
	for _, caller := range []bool{false, true} {
		known := map[streamState]bool{}
		for _, st := range reachable(caller) {
			known[st] = true
		}
		seen := map[streamState]bool{{}: true}
		todo := []streamState{{}}
		for len(todo) > 0 {
			st := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			require.True(t, known[st], "caller %v: %s is not among the reachable states", caller, st)
			for ev := range numStreamEvents {
				if (ev == evFinalFailed || ev == evFinalSent) && !st.final && st.send != sendClosed {
					continue // end sends these only after its evSendFinal was accepted
				}
				next, v := st.next(ev, caller)
				require.NotEqual(t, impossible, v, "caller %v: %s in state %s", caller, ev, st)
				if v == accept && !seen[next] {
					seen[next] = true
					todo = append(todo, next)
				}
			}
		}
	}
}
