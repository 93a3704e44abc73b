package actor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/grove-rt/grove/transport"
)

// A Placer starts actors on another host: [OnHost] hands it the spawn.
// The cluster module implements it (this package imports no network
// package); a test can implement it over [StartProcess].
type Placer interface {
	// Place starts the actor spec describes on a host and returns it once
	// its process runs there, before the handshake (which Spawn runs over
	// [Remote.Conn]). ctx carries the start timeout. Errors that say why no
	// host took it match [ErrHostUnavailable], [ErrBuildMismatch],
	// [ErrNoCapacity] or [ErrNotAuthorized]; Spawn returns them wrapped with
	// the actor's name.
	Place(ctx context.Context, spec PlaceSpec) (Remote, error)
}

// A PlaceSpec is what a [Placer] is asked to start: the options of the
// spawn that concern the process.
type PlaceSpec struct {
	// Actor is the actor's name and fresh id; its PID is the host's to
	// give ([Remote.PID]).
	Actor transport.ActorID
	// Parent is the spawning actor's identity.
	Parent transport.ActorID
	// Build is this executable's [BuildID]: a host must refuse another
	// build with [ErrBuildMismatch].
	Build string
	// Exe is WithExecutable's path, for the host to resolve among the
	// executables it allows ("" for the host's own).
	Exe string
	// Args and Env are WithArgs's and WithEnv's (or WithEnvOnly's, then
	// EnvOnly is set: the host's environment is not inherited).
	Args, Env []string
	EnvOnly   bool
	// Dir is WithDir's directory, on the host.
	Dir string
	// Grace and KillDelay are the actor's ladder, which the host honours
	// when it stops the actor on its own (its parent lost).
	Grace, KillDelay time.Duration
	// StartTimeout bounds the spawn; ctx's deadline already carries it.
	StartTimeout time.Duration
	// Stdout and Stderr receive the remote process's output, which the
	// Ref writes line by line, prefixed "[name@host] ", as it does a local
	// actor's, and whose stderr tail it keeps for the [*ExitError]. The
	// Placer writes there everything the process wrote before [Remote.Done]
	// closes; the writes block while the output's writer does.
	Stdout, Stderr io.Writer
}

// A Remote is an actor's process started by a [Placer] on another host.
// Its methods are safe for concurrent use.
type Remote interface {
	// Conn is the bearer of the actor's link: Spawn runs the handshake
	// over it, as [transport.Initiator], and then owns it. On the loss of
	// the host, the Placer closes it after it has closed Done.
	Conn() net.Conn
	// Host names the host, as [Ref.Host] and [ExitError.Host] report it.
	Host() string
	// PID is the process's id on its host.
	PID() int
	// Signal has the host send sig to the process, and returns once the
	// host has done so, or ctx ends. Its error changes nothing: the
	// process's end, or the host's loss, is reported by Done and Wait.
	Signal(ctx context.Context, sig syscall.Signal) error
	// Done is closed once the process has ended, or its host was lost; a
	// Placer must close it within its failure detector's bound, so that
	// nothing waits on it forever.
	Done() <-chan struct{}
	// Wait, once Done is closed, reports how: nil for an exit with status
	// 0, an [*ExitError] (its Code, Signal and Stderr are read; Actor and
	// Host are the Ref's) or a [*HostLostError] (any other error is taken
	// for one, with the error as its reason).
	Wait() error
}

// OnHost makes Spawn start the actor through p, on another host: the
// actor is then a task of the nursery exactly as a local one (its calls,
// streams, cancels, ladder, Kill and end), with [Ref.Host] naming its host.
// Its cancel ladder runs here and its signals go through [Remote.Signal].
// If the host is lost while the actor runs, its calls and its task fail
// with a [*HostLostError]; if it is lost while the actor is being stopped,
// the stop is no failure, but its task returns only once the actor is
// certainly dead, at the loss's DeadBy (the fenced return: the host's
// agent kills an actor whose parent it cannot hear by then). OnHost
// overrides the backend: the Placer decides where and how the actor runs,
// on js and wasip1 too.
func OnHost(p Placer) Option { return func(c *config) { c.placer = p } }

var (
	// ErrHostLost is matched by a [*HostLostError].
	ErrHostLost = errors.New("actor: the actor's host was lost")
	// ErrHostUnavailable is matched by a spawn on a host that does not
	// exist or is down.
	ErrHostUnavailable = errors.New("actor: no such host, or it is down")
	// ErrBuildMismatch is matched by a spawn on a host that runs another
	// build of the executable: deploy the same build there.
	ErrBuildMismatch = errors.New("actor: the host runs another build of the executable")
	// ErrNoCapacity is matched by a spawn on a host that has no room for
	// the actor.
	ErrNoCapacity = errors.New("actor: the host has no room for the actor")
	// ErrNotAuthorized is matched by a spawn (or a call) that the host's
	// policy refuses.
	ErrNotAuthorized = errors.New("actor: not authorized")
)

func init() {
	RegisterError("actor.ErrHostLost", ErrHostLost)
	RegisterError("actor.ErrHostUnavailable", ErrHostUnavailable)
	RegisterError("actor.ErrBuildMismatch", ErrBuildMismatch)
	RegisterError("actor.ErrNoCapacity", ErrNoCapacity)
	RegisterError("actor.ErrNotAuthorized", ErrNotAuthorized)
}

// A HostLostError ends an actor whose host stopped answering (its agent
// died, it hung, or it is cut off): whether its process still runs is not
// known, only that the host's agent will have killed it by DeadBy. The
// actor's calls in flight fail with it, and so does its task in the
// nursery, unless the actor was being stopped (see [OnHost]). It matches
// [ErrHostLost].
type HostLostError struct {
	// Actor is the actor whose host was lost.
	Actor transport.ActorID
	// Host names the host.
	Host string
	// Reason says how the loss was detected ("agent exited", "silent").
	Reason string
	// Silence is how long nothing had been heard from the host when it was
	// declared lost.
	Silence time.Duration
	// DeadBy is when the actor is certainly dead: the host's agent kills
	// an actor whose parent it has not heard from within its own bound.
	DeadBy time.Time
}

func (e *HostLostError) Error() string {
	return fmt.Sprintf("actor %s: host lost (%s) after %v of silence; the actor is dead by %s",
		onHost(e.Actor, e.Host), e.Reason, e.Silence.Round(time.Millisecond), e.DeadBy.Format("15:04:05.000"))
}

// Is reports whether target is [ErrHostLost].
func (e *HostLostError) Is(target error) bool { return target == ErrHostLost }

// remoteSignalTimeout bounds a signal's round trip to a remote host: the
// ladder goes on, and a host that does not answer is reported lost by its
// Placer.
const remoteSignalTimeout = time.Second

// spawnRemote starts the actor through cfg's Placer and completes the
// handshake over its bearer.
func spawnRemote(ctx context.Context, name string, cfg config) (*Ref, error) {
	id := transport.ActorID{Name: name, ID: newID()}
	outR, outPipe := io.Pipe()
	errR, errPipe := io.Pipe()
	outW, errW := &placeWriter{outPipe}, &placeWriter{errPipe}
	spec := PlaceSpec{Actor: id, Parent: identity(ctx), Build: BuildID(), Exe: cfg.exe,
		Args: cfg.args, Env: cfg.env, EnvOnly: cfg.replaceEnv, Dir: cfg.dir,
		Grace: cfg.grace, KillDelay: cfg.killDelay, StartTimeout: cfg.startTimeout, Stdout: outW, Stderr: errW}
	hctx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancel()
	rem, err := cfg.placer.Place(hctx, spec)
	if err == nil && rem == nil {
		err = errors.New("the Placer returned neither a Remote nor an error")
	}
	if err != nil {
		outR.Close()
		errR.Close()
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return nil, fmt.Errorf("actor: spawn %s: %w", name, err)
	}
	id.PID, id.Host = rem.PID(), rem.Host()
	run := &remoteRunner{rem: rem}
	r := newRef(ctx, id, cfg, run)
	r.host = rem.Host()
	out, errw, prefix := cfg.sinks(id, os.Stderr, "["+name+"@"+r.host+"] ")
	run.out.start(outR, errR, out, errw, prefix)
	run.out.wg.Add(1)
	go func() { // the Placer's writes end with Done
		defer run.out.wg.Done()
		<-rem.Done()
		outW.Close()
		errW.Close()
	}()
	conn, err := transport.NewConn(hctx, rem.Conn(), transport.Initiator,
		transport.WithIdentity(identity(ctx), "parent"), transport.WithHandler(r.serveChild))
	if err != nil {
		rem.Conn().Close()
		return nil, r.failedStart(ctx, hctx, err)
	}
	r.conn = conn
	return r, nil
}

// A placeWriter is where a Placer writes a remote actor's output: a pipe
// to the Ref's forwarder, which writes it line by line, prefixed.
type placeWriter struct{ *io.PipeWriter }

// remoteRunner is the runner of an actor on another host: its output
// comes through the Placer's pipes.
type remoteRunner struct {
	rem Remote
	out outputs
}

func (x *remoteRunner) signal(sig syscall.Signal) {
	ctx, cancel := context.WithTimeout(context.Background(), remoteSignalTimeout)
	defer cancel()
	_ = x.rem.Signal(ctx, sig)
}

func (x *remoteRunner) exited() <-chan struct{} { return x.rem.Done() }

func (x *remoteRunner) drain() { x.out.await() }

// result is how the remote ended, with the tail of the output forwarded
// here, or, if none came, the one the remote reported.
func (x *remoteRunner) result() runResult {
	res := x.reported()
	if tail := x.out.tail.String(); tail != "" {
		res.stderr = tail
	}
	return res
}

// reported is how the Remote says it ended.
func (x *remoteRunner) reported() runResult {
	err := x.rem.Wait()
	var ee *ExitError
	var le *HostLostError
	switch {
	case err == nil:
		return runResult{clean: true}
	case errors.As(err, &le):
		return runResult{code: -1, lost: le}
	case errors.As(err, &ee):
		return runResult{code: ee.Code, sig: ee.Signal, stderr: ee.Stderr}
	}
	return runResult{code: -1, lost: &HostLostError{Reason: err.Error(), DeadBy: time.Now()}}
}
