package actor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// Environment of a spawned actor: the marker Main looks for, and its
// identity. The link to the parent is file descriptor 3.
const (
	envActor = "GROVE_ACTOR"
	envName  = "GROVE_ACTOR_NAME"
	envID    = "GROVE_ACTOR_ID"
	envHost  = "GROVE_ACTOR_HOST" // absent for an actor of no host: see WithHost
	linkFD   = 3
)

// stopFunc is the reserved function a parent calls to stop an actor
// gracefully.
const stopFunc = "grove.stop"

// ErrStopped is matched by a call that a graceful stop of its actor cut
// short (one that did not finish within the grace period, or whose function
// gave up because of the stop), and by every call made once the stop has
// begun. It matches across processes, through a [*RemoteError], so a call
// that an actor's stop cut in a grandchild matches it too.
var ErrStopped = errors.New("actor: the actor was stopped (by Ref.Cancel, its nursery's cancel, or its pool) before the call could finish")

func init() { RegisterError("actor.ErrStopped", ErrStopped) }

// self is this process's identity as an actor: "root" unless it was
// spawned as one, on the host its spawner named. It is fixed at start-up.
var self = func() transport.ActorID {
	id := transport.ActorID{Name: "root", ID: newID(), PID: os.Getpid()}
	if os.Getenv(envActor) == "1" {
		id.Name, id.ID, id.Host = os.Getenv(envName), os.Getenv(envID), os.Getenv(envHost)
	}
	return id
}()

// startedAsActor is whether this process was spawned as an actor, fixed
// at start-up; mainServing is set once Main serves the parent. Both are
// facts about the process, hence process-wide.
var (
	startedAsActor = os.Getenv(envActor) == "1"
	mainServing    atomic.Bool
)

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// A Ref is a running actor: a child process serving its parent over an
// inherited socketpair (or a goroutine of this process, or a process on
// another host, see [Backend] and [OnHost]). It is valid from Spawn until the actor's nursery
// ends, and after: how the actor ended is decided once, by the goroutine of
// its task in the nursery, and every report of that end agrees. Calls after
// the actor has died fail with its [*ExitError] (the same value as its
// task's error), calls after it was stopped with an error matching
// [ErrStopped], whatever happens to it later (a Kill after a stop changes
// nothing).
type Ref struct {
	id   transport.ActorID
	cfg  config
	run  runner // what the actor runs as, and its output: nil for a Ref from Find
	host string // the host it runs on, for a remote actor
	conn *transport.Conn

	opened   atomic.Uint64 // the id of a call opened lately, for notOpened
	exitOnce sync.Once
	exitErr  *ExitError     // how the process ended, made once (exit)
	lostErr  *HostLostError // its host was lost, made with exitErr
	clean    bool           // it exited with status 0, made with exitErr
	ended    chan struct{}  // closed by supervise once end and endErr are set
	end      endState       // how the actor ended: read only once ended is closed
	endErr   error          // the one error end reports to the task and the calls; nil for a stop
	cancel   chan struct{}
	once     sync.Once
	killReq  chan struct{}
	killOnce sync.Once

	names nameRegistry // the spawner's, where the actor's registrations go
	named atomic.Bool  // a registration passed through its link: its end drops its names
	peer  *peerLink    // set for a Ref from Find, which no nursery owns
}

// Name returns the name the actor was spawned with.
func (r *Ref) Name() string { return r.id.Name }

// ID returns the actor's unique id.
func (r *Ref) ID() string { return r.id.ID }

// PID returns the actor's process id (on its host, for a remote actor).
func (r *Ref) PID() int { return r.id.PID }

// Host returns the name of the host the actor runs on, as its [Placer]
// reported it: "" for an actor of this host.
func (r *Ref) Host() string { return r.host }

// newRef makes the Ref of an actor that runs as run, spawned under ctx.
func newRef(ctx context.Context, id transport.ActorID, cfg config, run runner) *Ref {
	return &Ref{id: id, cfg: cfg, run: run, cancel: make(chan struct{}), killReq: make(chan struct{}),
		ended: make(chan struct{}), names: serverFor(ctx).names()}
}

// String formats the actor as name[id]@pid, followed by " on host h" for
// an actor with a host (see [WithHost] and [OnHost]); a nil Ref as "<nil>".
func (r *Ref) String() string {
	if r == nil {
		return "<nil>"
	}
	return r.id.String()
}

// Cancel stops the actor gracefully and does not wait: a stop message
// first, which cancels its calls and lets them send their answers within
// the grace period; SIGTERM if it has not exited after the grace period;
// SIGKILL after the kill delay. The stop message is sent even with a grace
// period of 0 (its send waits at most 100 ms for a child that does not
// read). A call the stop cuts short, and every call made once it has
// begun, fails with an error matching [ErrStopped]; so does one cut by the
// SIGTERM or SIGKILL of the ladder, whatever the exit status. Its task in
// the nursery then ends without an error. A process that dies on its own
// during the stop, before the parent signalled it (a crash, the OOM
// killer), has died: the task and the calls it cut get its [*ExitError].
//
// For an actor on another host ([OnHost]) the ladder runs here and its
// signals through [Remote.Signal]; if the host is lost during the stop, the
// stop is no failure, but the task returns only at the [*HostLostError]'s
// DeadBy, when the actor is certainly dead (the fenced return).
//
// Cancel on a Ref from [Find] panics with an error wrapping [ErrNotOwner]:
// only the nursery that spawned an actor may end it.
func (r *Ref) Cancel() {
	if r == nil {
		panic("actor: Cancel called on a nil *Ref: use the Ref that Spawn returned with a nil error")
	}
	r.mustOwn("Cancel")
	r.once.Do(func() { close(r.cancel) })
}

// Kill ends the actor's process at once with SIGKILL, skipping the ladder
// (even one already under way, the stop message's send included), and does
// not wait. Its calls in flight fail with its [*ExitError] (on the
// goroutine backend, which has no process, with an error matching
// [ErrStopped]; a function there that ignores its ctx is abandoned after
// the kill delay); its task in the nursery ends without an error. A Kill
// after the actor has ended does nothing.
//
// Kill on a Ref from [Find] panics with an error wrapping [ErrNotOwner].
func (r *Ref) Kill() {
	if r == nil {
		panic("actor: Kill called on a nil *Ref: use the Ref that Spawn returned with a nil error")
	}
	r.mustOwn("Kill")
	r.killOnce.Do(func() { close(r.killReq) })
}

// Spawn starts name as an actor: a child process running this executable
// (or another, [WithExecutable]) that serves the registered functions. It
// returns once the child has completed the handshake, bounded by ctx and the
// start timeout. The actor's lifetime is a task of n: when n is cancelled
// the actor is cancelled and reaped; when the actor's process dies
// unexpectedly (any exit it was not asked for, even with status 0, SIGTERM
// from outside included), the task fails with an [*ExitError] and n cancels
// the rest; when the actor breaks its link (a malformed frame), or hangs it
// up and does not exit within 2 s, it is killed and the task fails with an
// error wrapping the link's (matching [transport.ErrProtocol], say). The
// task's goroutine owns the actor's end: the calls the end cut get the same
// error as the task (see [Ref]).
//
// A spawn costs a fork and exec of the executable, the child's start and
// the handshake: from Spawn to the first answered call about 3–5 ms for a
// small Go binary on a 2-vCPU VM (BenchmarkSpawn; README's Performance,
// figure 1), most of it the exec and the child's start, which a bare exec
// of the same binary takes too. On Linux one thread of this process does
// every fork, so spawns queue behind each other there, and a live actor
// holds no thread of its parent. A fork refused for want of processes
// (RLIMIT_NPROC, a cgroup's pids.max) gives an error matching
// syscall.EAGAIN that names the limit. A child that dies before the
// handshake gives its ExitError; one that never calls Main, or calls Spawn
// before it, gives an error matching [ErrNoHandshake] that says to call
// [Main] first in main; a missing executable fails at once. A spawn
// cancelled by ctx (or n) fails with ctx's cause, never with the exit of
// the child it abandoned, and this process's own failures (out of
// descriptors: EMFILE) win over the child's exit likewise. In a process
// started as an actor, Spawn before Main has taken over fails at once: that
// process would otherwise spawn itself without end.
//
// Where processes cannot be spawned, the actor runs on a goroutine of this
// process instead ([Backend]): it then has no process of its own, so a
// crash of its code (a panic outside a call, os.Exit, a fatal signal) ends
// the whole program, a function that ignores its ctx cannot be killed, and
// it shares this process's memory limits, stdout and stderr.
//
// With [OnHost], the actor is started on another host by a [Placer] (the
// spawn then costs the Placer's round trip, and its errors, matching
// [ErrHostUnavailable] and the like, are returned wrapped with the actor's
// name) and is a task of n all the same: a loss of its host while it runs
// fails its calls and its task with a [*HostLostError]; during a stop, the
// task returns without an error, once the actor is certainly dead (the
// fenced return, see [Ref.Cancel]).
//
// A nil ctx or n is an error that says so.
func Spawn(ctx context.Context, n *nursery.Nursery, name string, opts ...Option) (*Ref, error) {
	if ctx == nil {
		return nil, fmt.Errorf("actor: Spawn %s: nil ctx: pass the ctx of the nursery's body (or context.Background())", name)
	}
	if n == nil {
		return nil, fmt.Errorf("actor: Spawn %s: nil *nursery.Nursery: spawn in the body of nursery.Run, with the nursery it is given", name)
	}
	if err := mainFirst(); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	kids := &serverFor(ctx).kids // Tree's view of the spawner's children
	return nursery.Start(n, func(nctx context.Context, started func(*Ref)) error {
		k := kids.add(name)
		defer kids.remove(k)
		_, spawned := observeSpawn(ctx, name)
		sctx, cancel := context.WithCancelCause(nctx)
		stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
		r, err := spawn(sctx, name, cfg)
		stop()
		cancel(nil)
		if spawned != nil {
			spawned(spawnedInfo(name, r, err), err)
		}
		if err != nil {
			return err
		}
		k.ref.Store(r)
		started(r)
		err = r.supervise(nctx, newIdleWatch(cfg.idleWarning, n))
		r.dropNames()
		if spawned != nil {
			observeEnd(r, err)
		}
		return err
	})
}

// noMainLine is what Spawn writes on stderr, and returns, in a process
// started as an actor before Main has taken over; the parent recognises it
// in the stderr tail of the child that died before the handshake.
const noMainLine = "actor: Spawn was called in a process started as an actor, before actor.Main() took over " +
	"(this program would spawn itself without end): call actor.Main() first in main"

// mainFirst refuses a spawn in a process started as an actor whose Main
// has not taken over: the process is the parent's child, not a program of
// its own, and each such spawn would start one more of it.
func mainFirst() error {
	if !startedAsActor || mainServing.Load() {
		return nil
	}
	fmt.Fprintln(os.Stderr, noMainLine)
	return errors.New(noMainLine)
}

// failedStart explains a handshake that failed, after making sure the
// process is gone. Only a link the child broke (it died, or closed its end)
// is explained by the child's exit; any other failure is this side's own —
// the spawn was cancelled, it timed out, this process ran out of
// descriptors — and wins over the exit of the child, which is killed (a
// child whose parent hung up on it exits with code 2, which says nothing).
func (r *Ref) failedStart(ctx, hctx context.Context, err error) error {
	if transport.PeerGone(err) {
		select {
		case <-r.run.exited(): // it died: its exit says why
		case <-time.After(time.Second):
		}
		select {
		case <-r.run.exited():
			return r.diedBeforeHandshake(err)
		default:
		}
	}
	r.kill()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("actor: spawn %s: %w", r.id.Name, context.Cause(ctx))
	case hctx.Err() != nil:
		return fmt.Errorf("%w %s within %v: call actor.Main() first in main: %w",
			ErrNoHandshake, r.id, r.cfg.startTimeout, err)
	}
	return fmt.Errorf("actor: spawn %s: %w", r.id, err)
}

// diedBeforeHandshake explains a child that exited before the handshake
// completed: by its exit, unless the exit shows that it never served.
func (r *Ref) diedBeforeHandshake(err error) error {
	ee := r.exit()
	switch {
	case r.lostErr != nil:
		return fmt.Errorf("actor: spawn %s: %w", r.id, r.lostErr)
	case r.clean:
		return fmt.Errorf("%w %s: it exited before the handshake: call actor.Main() first in main: %w",
			ErrNoHandshake, r.id, err)
	case strings.Contains(ee.Stderr, noMainLine):
		return fmt.Errorf("%w %s: it called actor.Spawn before actor.Main(), and would have spawned itself "+
			"without end: call actor.Main() first in main: %w", ErrNoHandshake, r.id, ee)
	}
	return ee
}

// kill ends the process at once and waits for it and its output.
func (r *Ref) kill() {
	r.signal(syscall.SIGKILL)
	r.waitExit()
	r.run.drain()
}

// signal sends sig to the actor's process. An actor on the goroutine
// backend has no process: any signal cancels it and cuts its link.
func (r *Ref) signal(sig syscall.Signal) {
	r.run.signal(sig)
	if r.inproc() && r.conn != nil {
		go r.conn.Close() // Close waits for the link's goroutines
	}
}

// inproc reports whether the actor runs on the goroutine backend.
func (r *Ref) inproc() bool {
	_, ok := r.run.(*goroutineRunner)
	return ok
}

// waitExit waits until the process has been waited for (or its host
// lost). An actor on the goroutine backend whose function ignores its ctx
// can never be forced to end: after the kill delay it is abandoned
// (documented on Spawn).
func (r *Ref) waitExit() {
	if !r.inproc() {
		<-r.run.exited()
		return
	}
	t := time.NewTimer(r.cfg.killDelay)
	defer t.Stop()
	select {
	case <-r.run.exited():
	case <-t.C:
	}
}

// waitDelay bounds how long, once an actor's process has exited, its
// parent waits for what the process left behind: the end of its stdout and
// stderr, and the last frames on its link. A process the actor started
// that inherited its stderr can hold the pipe open for as long as it
// lives; as os/exec's Cmd.WaitDelay does, the pipes are then closed and
// what was not read is dropped.
const waitDelay = 500 * time.Millisecond

// closeLink closes the link once the process has exited, after reading
// what it sent before it went (its calls' last answers), for at most
// waitDelay.
func (r *Ref) closeLink() {
	t := time.NewTimer(waitDelay)
	defer t.Stop()
	select {
	case <-r.conn.Done():
	case <-t.C:
	}
	r.conn.Close()
}

// open starts a call of fn on the actor. Every call goes through it, so it
// is where a nil Ref or ctx is caught.
func (r *Ref) open(ctx context.Context, fn string, in any) (*transport.Stream, error) {
	if r == nil {
		return nil, fmt.Errorf("actor: call %s: nil *Ref: use the Ref that Spawn returned with a nil error", fn)
	}
	if ctx == nil {
		return nil, fmt.Errorf("actor %s: call %s: nil ctx: pass the caller's ctx (or context.Background())", r.id, fn)
	}
	before := r.opened.Load()
	s, err := r.conn.Call(ctx, fn, in)
	if err != nil {
		if ctx.Err() != nil && !r.dead() {
			return nil, ctx.Err()
		}
		if !errors.Is(err, transport.ErrClosed) {
			return nil, fmt.Errorf("actor %s: %s: %w", r.id, fn, err)
		}
		return nil, r.notOpened(before, r.endError(fn))
	}
	r.opened.Store(s.ID())
	return s, nil
}

// recv takes the next message of a call. When ctx ends it cancels the call
// and returns ctx's error at once.
func (r *Ref) recv(ctx context.Context, s *transport.Stream) (*transport.Message, error) {
	m, err := s.Recv(ctx)
	if err == nil {
		return m, nil
	}
	return nil, r.recvFailed(ctx, s)
}

// recvFailed is the error of a receive on s that failed: ctx's, after a
// Cancel of the call, or the actor's end.
func (r *Ref) recvFailed(ctx context.Context, s *transport.Stream) error {
	if ctx.Err() != nil && !r.dead() {
		_ = s.Cancel(context.Background())
		return ctx.Err()
	}
	// The link ended under the call: the actor's end is the news, even if
	// ctx ended meanwhile.
	return r.notBegun(s.ID(), r.endError(""))
}
