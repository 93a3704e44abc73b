package actor

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/grove-rt/grove/transport"
)

// An endState is how an actor ended. It is decided once, by the goroutine
// that owns the actor's lifetime (supervise, the actor's task in its
// nursery, and stop, which it runs), and published by closing Ref.ended;
// every report of the end (the task's error, and the error of each call
// the end cut or that comes after it) is read from it, so they agree.
//
// An actor is running until it ends, or until supervise begins a stop
// (Cancel, its nursery's cancel, Kill), when it is stopping; it then ends
// in one of the states below.
type endState uint8

const (
	// The zero value, running: ended is still open (supervise is waiting,
	// or stopping). Nothing reads end before ended closes, so it has no name.
	_ endState = iota
	// stopped: the stop its parent asked for ended it: it exited cleanly
	// after the stop message, or in any way once the parent had signalled
	// it (SIGTERM, SIGKILL of the ladder). Calls get ErrStopped; the task
	// no error.
	stopped
	// killed: Kill's SIGKILL ended it. Calls get its *ExitError (on the
	// goroutine backend, which has no exit, ErrStopped); the task no error.
	killed
	// died: it ended as nobody asked, whatever its status: on its own, or
	// during a stop before the parent signalled it (a crash, the OOM
	// killer). Calls and the task get the one *ExitError.
	died
	// broken: its link failed with a fault of the actor (a malformed
	// frame), or it hung up its link and did not exit: it was killed, and
	// calls and the task get the one error that says so.
	broken
	// lost: the host of a remote actor was lost while it ran: calls and the
	// task get the one *HostLostError. (A host lost during a stop ends the
	// actor stopped, once its HostLostError's DeadBy has passed.)
	lost
)

// linkLoss bounds how long an actor that hung up its link (without a
// fault) has to exit before it is killed as broken.
const linkLoss = 2 * time.Second

// minStopSend bounds the send of the stop message when the grace period
// is shorter (or 0), so that the message goes out all the same to a child
// that reads its link; the send also ends on Kill and on the exit.
const minStopSend = 100 * time.Millisecond

// finish publishes the actor's end: only supervise calls it, once.
func (r *Ref) finish(end endState, err error) error {
	r.end, r.endErr = end, err
	close(r.ended)
	return err
}

// supervise is the actor's task in its nursery, and the owner of its end:
// it waits for the process to end, by itself or because it was cancelled,
// kills it if its link broke, and decides how it ended. Meanwhile it runs
// the idle watch.
func (r *Ref) supervise(ctx context.Context, idle *idleWatch) error {
	defer idle.stop()
	linkDone := r.conn.Done()
	var lost <-chan time.Time
	for {
		select {
		case <-idle.body:
			idle.bodyReturned()
		case <-idle.tick:
			idle.fired(ctx, r)
		case <-r.run.exited():
			return r.exitedEnd()
		case <-linkDone:
			linkDone = nil
			if closed(r.run.exited()) {
				// A Placer reports its host lost before it closes the
				// bearer: the loss, not the link, is the news.
				return r.exitedEnd()
			}
			// This side closes the link only once the actor has ended, so
			// an error here is the actor's: its going away, or a fault.
			if err := r.conn.Err(); !transport.PeerGone(err) {
				r.kill()
				r.conn.Close()
				return r.finish(broken, fmt.Errorf("actor %s: the link to the actor broke, so it was killed: %w", r.id, err))
			}
			t := time.NewTimer(linkLoss) // a clean close: the process is on its way out
			defer t.Stop()
			lost = t.C
		case <-lost:
			r.kill()
			r.conn.Close()
			return r.finish(broken, fmt.Errorf("actor %s: the actor hung up its link and had not exited %v later, so it was killed: %w",
				r.id, linkLoss, r.conn.Err()))
		case <-ctx.Done():
			if err := r.stop(); err != nil {
				return err
			}
			return ctx.Err()
		case <-r.cancel:
			return r.stop()
		case <-r.killReq:
			return r.stop()
		}
	}
}

// exitedEnd ends an actor whose process ended (or whose host was lost)
// while it ran.
func (r *Ref) exitedEnd() error {
	r.closeLink()
	ee := r.exit()
	if r.lostErr != nil {
		return r.finish(lost, r.lostErr)
	}
	return r.finish(died, ee)
}

// stop runs the cancel ladder, unless Kill asked for SIGKILL at once: the
// stop message (which carries the grace period, so that the actor lets its
// calls answer within it), SIGTERM once the grace period since the stop
// began has passed, SIGKILL after the kill delay; the signals are sent by
// the process's one sweeper (see ladder), which sends every due signal of
// every stopping actor in one sweep. It returns once the process has been
// waited for, with the death if the process died on its own on the way
// (before it was signalled), and decides the end. If the host of a remote
// actor is lost on the way, nobody can tell whether the process is gone: it
// returns once the loss's DeadBy has passed, when the host's agent has
// killed it (the fenced return).
func (r *Ref) stop() error {
	began := time.Now()
	if !closed(r.killReq) {
		r.sendStop() // before any signal; bounded, and the ladder counts from began all the same
	}
	_, slow := r.run.(*remoteRunner)
	exited := r.run.exited()
	g := stops.enter(began, r.cfg.grace, r.cfg.killDelay, func(sig syscall.Signal) bool {
		if closed(exited) {
			// Reaped: the signal would go nowhere, and an end before it
			// (a crash during the stop) is the actor's own, not a stop.
			return false
		}
		r.signal(sig)
		return true
	}, slow)
	var top <-chan struct{} // the goroutine backend's: the kill delay since its cancel has passed
	if r.inproc() {
		top = g.top
	}
	killedIt, abandoned := false, false
	select {
	case <-r.run.exited():
	case <-r.killReq:
		if !closed(r.run.exited()) {
			r.signal(syscall.SIGKILL)
			killedIt = true
		}
	case <-top:
		// The goroutine backend's last step: a function that ignores its
		// ctx is abandoned now, not after another kill delay.
		abandoned = true
	}
	signalled := stops.leave(g)
	if !abandoned {
		r.waitExit()
	}
	r.closeLink()
	ee := r.exit()
	switch {
	case r.lostErr != nil:
		fence(r.lostErr.DeadBy)
		return r.finish(stopped, nil)
	case killedIt && (r.inproc() || ee.Signal == syscall.SIGKILL):
		if r.inproc() {
			return r.finish(killed, nil) // no process, no exit: its calls were stopped
		}
		r.finish(killed, ee)
		return nil
	case signalled || r.clean:
		return r.finish(stopped, nil)
	}
	return r.finish(died, ee)
}

// sendStop sends the stop message, bounded by the grace period (at least
// minStopSend), Kill and the exit: a child that stopped reading its link
// does not hold up the ladder.
func (r *Ref) sendStop() {
	ctx, cancel := context.WithTimeout(context.Background(), max(r.cfg.grace, minStopSend))
	defer cancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-r.killReq:
		case <-r.run.exited():
		case <-ctx.Done():
		}
		cancel()
	}()
	if s, err := r.conn.Call(ctx, stopFunc, r.cfg.grace); err == nil {
		s.Close()
	}
	cancel()
	<-watched
}

// closed reports whether c is closed, without waiting.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// fence waits until deadBy: a timer, not a poll.
func fence(deadBy time.Time) {
	if d := time.Until(deadBy); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		<-t.C
	}
}

// exit is how the process ended, once it has been waited for, made once:
// one value, so that a nursery that hears of it twice (from the task and
// from a call) keeps it once. A clean exit is Code 0. It also records a
// lost host (lostErr) and a clean exit (clean).
func (r *Ref) exit() *ExitError {
	r.exitOnce.Do(func() {
		r.run.drain() // the whole stderr tail
		res := r.run.result()
		ee := &ExitError{Actor: r.id, Host: r.host, Code: res.code, Signal: res.sig, Stderr: res.stderr}
		if res.lost != nil {
			le := *res.lost
			le.Actor, le.Host = r.id, r.host
			r.lostErr = &le
		}
		r.exitErr, r.clean = ee, res.clean
	})
	return r.exitErr
}

// endError is the error of a call (of fn; "" for one under way) that the
// actor's end cut, or that came after it: it waits until supervise has
// decided the end (bounded by the ladder and linkLoss).
func (r *Ref) endError(fn string) error {
	if r.peer != nil {
		return r.peer.gone()
	}
	<-r.ended
	if r.endErr == nil {
		return r.stoppedError(fn)
	}
	return r.endErr
}

// dead reports, without waiting, whether the actor has ended with an error
// of its own for its calls (it died, its link broke, or Kill killed its
// process): then that is the news for a call, even if the call's ctx ended
// meanwhile (often because of the death: its nursery cancels on it).
func (r *Ref) dead() bool {
	if r.peer != nil {
		return closed(r.conn.Done())
	}
	return closed(r.ended) && r.endErr != nil
}

// exitReported reports, once the end is decided, whether calls get the
// process's *ExitError: it died, or Kill killed it.
func (r *Ref) exitReported() bool {
	if r.peer != nil || !closed(r.ended) {
		return false
	}
	_, ok := r.endErr.(*ExitError)
	return ok
}

// answerError is the error of a call that the actor answered with ei: the
// [*RemoteError], unless the actor's own end (other than its stop message:
// SIGTERM, its parent's kill on the goroutine backend) cut the call, in
// which case the answer says only "context canceled" and the end says what
// happened.
func (r *Ref) answerError(fn string, ei *transport.ErrorInfo) error {
	err := remoteError(ei)
	if r.peer != nil && ei.Source.ID == r.id.ID && len(ei.Via) == 0 &&
		(errors.Is(err, errUnregistered) || errors.Is(err, ErrStopped) || errors.Is(err, errEnded)) {
		// The peer's own end (its stop, or any other) cut the call: it
		// has gone, and the link says how.
		return r.peer.gone()
	}
	if ei.Source.ID == r.id.ID && len(ei.Via) == 0 && errors.Is(err, errEnded) {
		return r.endError(fn)
	}
	return err
}

// stoppedError is the error of a call on an actor that was stopped.
func (r *Ref) stoppedError(fn string) error {
	if fn == "" {
		return fmt.Errorf("actor %s: %w", r.id, ErrStopped)
	}
	return fmt.Errorf("actor %s: %s: %w", r.id, fn, ErrStopped)
}
