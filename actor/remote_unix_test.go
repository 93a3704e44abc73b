//go:build unix

package actor_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// loopPlacer is a Placer whose "host" is this machine, named "loop": it
// starts each actor with actor.StartProcess, as a host agent would, and
// hands the actor's link to the Ref directly (an agent relays it over the
// network instead). The test's goroutines it starts are joined by wait.
type loopPlacer struct {
	t      *testing.T
	err    error         // Place fails with it, if set
	deadBy time.Duration // how long after a simulated loss the "agent" kills the actor
	wg     sync.WaitGroup
	mu     sync.Mutex
	placed []*loopRemote
	specs  []actor.PlaceSpec
}

func newLoopPlacer(t *testing.T) *loopPlacer {
	p := &loopPlacer{t: t, deadBy: 300 * time.Millisecond}
	t.Cleanup(p.wg.Wait) // every actor reaped before the test's leak checks
	return p
}

func (p *loopPlacer) Place(ctx context.Context, spec actor.PlaceSpec) (actor.Remote, error) {
	p.mu.Lock()
	p.specs = append(p.specs, spec)
	p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	opts := []actor.Option{actor.WithOutput(spec.Stdout), actor.WithStderr(spec.Stderr), actor.WithArgs(spec.Args...),
		actor.WithDir(spec.Dir)}
	if spec.EnvOnly {
		opts = append(opts, actor.WithEnvOnly(spec.Env...))
	} else {
		opts = append(opts, actor.WithEnv(spec.Env...))
	}
	proc, err := actor.StartProcess(ctx, spec.Actor.Name, spec.Actor.ID, opts...)
	if err != nil {
		return nil, err
	}
	r := &loopRemote{proc: proc, deadBy: p.deadBy, done: make(chan struct{}), lose: make(chan struct{})}
	p.mu.Lock()
	p.placed = append(p.placed, r)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() { defer p.wg.Done(); r.watch() }()
	return r, nil
}

// remote returns the i-th Remote placed.
func (p *loopPlacer) remote(i int) *loopRemote {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.placed[i]
}

// loopRemote is a process started by loopPlacer.
type loopRemote struct {
	proc     *actor.Process
	deadBy   time.Duration
	done     chan struct{}
	err      error // set before done closes
	lose     chan struct{}
	loseOnce sync.Once
	signals  sync.Map // syscall.Signal → true, the signals the parent asked for
}

func (r *loopRemote) Conn() net.Conn        { return r.proc.Link() }
func (r *loopRemote) Host() string          { return "loop" }
func (r *loopRemote) PID() int              { return r.proc.PID() }
func (r *loopRemote) Done() <-chan struct{} { return r.done }
func (r *loopRemote) Wait() error           { <-r.done; return r.err }

func (r *loopRemote) Signal(ctx context.Context, sig syscall.Signal) error {
	r.signals.Store(sig, true)
	select {
	case <-r.lose:
		return errors.New("loop: host lost") // an agent that cannot be reached
	default:
	}
	return r.proc.Signal(sig)
}

// loseHost simulates the loss of the host: what the cluster's detectors
// (its heartbeat, its connection events) will report. The hook's contract
// is that a Placer that loses its host closes Done with a *HostLostError
// whose DeadBy is when its agent will have killed the actor, then closes
// the bearer; here the "agent" keeps to that bound by killing the process
// at DeadBy.
func (r *loopRemote) loseHost() { r.loseOnce.Do(func() { close(r.lose) }) }

// watch reports the process's exit, or the host's loss, through Done.
func (r *loopRemote) watch() {
	select {
	case <-r.proc.Done():
		r.err = r.proc.Wait()
		close(r.done)
		return
	case <-r.lose:
	}
	deadBy := time.Now().Add(r.deadBy)
	r.err = &actor.HostLostError{Host: "loop", Reason: "simulated", Silence: 50 * time.Millisecond, DeadBy: deadBy}
	close(r.done)
	r.proc.Link().Close()
	t := time.NewTimer(time.Until(deadBy))
	defer t.Stop()
	select {
	case <-r.proc.Done(): // the actor exited on the EOF of its link
	case <-t.C:
		_ = r.proc.Signal(syscall.SIGKILL) // the agent's own bound
	}
	_ = r.proc.Wait()
}

func TestRemoteSpawnCallStreamDuplex(t *testing.T) {
	proctest.NeedsProcesses(t, "a loopback host's processes")
	proctest.NoChildrenLeft(t)
	p := newLoopPlacer(t)
	var out syncBuffer
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(p), actor.WithOutput(&out))
		if err != nil {
			return err
		}
		require.Equal(t, "loop", ref.Host())
		got, err := pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		require.Equal(t, p.remote(0).PID(), got, "the call ran in the placed process")
		require.Equal(t, got, ref.PID())

		st, err := count.Open(ctx, ref, 1000)
		require.NoError(t, err)
		items := 0
		for v := range st.C {
			require.Equal(t, items, v)
			items++
		}
		require.NoError(t, st.Err())
		require.Equal(t, 1000, items)

		d, err := upper.Open(ctx, ref)
		require.NoError(t, err)
		d.In <- "abc"
		close(d.In)
		require.Equal(t, "ABC", <-d.Out)
		for range d.Out {
		}
		require.NoError(t, d.Err())

		_, err = panicky.Call(ctx, ref, struct{}{})
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		require.True(t, re.Panicked())

		_, err = chatty.Call(ctx, ref, 3)
		require.NoError(t, err)
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, actor.BuildID(), p.specs[0].Build, "the spec carries this build")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3, out.String())
	for _, l := range lines {
		require.True(t, strings.HasPrefix(l, "[far@loop] line "), l)
	}
}

func TestRemoteExit(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit code")
	proctest.NoChildrenLeft(t)
	p := newLoopPlacer(t)
	var callErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(p), actor.WithOutput(&syncBuffer{}))
		if err != nil {
			return err
		}
		_, callErr = exit.Call(ctx, ref, 3)
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	require.Same(t, ee, errAs[*actor.ExitError](t, callErr), "the call and the task get the one error")
	require.Equal(t, "loop", ee.Host)
	require.Equal(t, 3, ee.Code)
	require.Contains(t, ee.Stderr, "about to exit with 3")
	require.Contains(t, ee.Error(), " on host loop: process exited with code 3")
}

func TestRemoteCancelEscalates(t *testing.T) {
	proctest.NeedsProcesses(t, "SIGTERM and SIGKILL")
	proctest.NoChildrenLeft(t)
	const grace, killDelay = 200 * time.Millisecond, 200 * time.Millisecond
	p := newLoopPlacer(t)
	var start time.Time
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, _, err := runningHeadstrong(ctx, n, "headstrong", p, true, actor.WithGrace(grace), actor.WithKillDelay(killDelay))
		if err != nil {
			return err
		}
		start = time.Now()
		n.Cancel(nil)
		return nil
	})
	took := time.Since(start)
	require.NoError(t, err)
	require.GreaterOrEqual(t, took, grace+killDelay, "SIGKILL only after the grace and the kill delay")
	require.Less(t, took, grace+killDelay+3*time.Second)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		_, ok := p.remote(0).signals.Load(sig)
		require.True(t, ok, "%v went through Remote.Signal", sig)
	}
}

func TestRemoteKill(t *testing.T) {
	proctest.NeedsProcesses(t, "SIGKILL")
	proctest.NoChildrenLeft(t)
	p := newLoopPlacer(t)
	var callErr error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, st, err := runningHeadstrong(ctx, n, "doomed", p, true, actor.WithGrace(time.Hour))
		if err != nil {
			return err
		}
		ref.Kill()
		callErr = st.Err()
		return nil
	})
	require.NoError(t, err, "a killed actor's task ends without an error")
	ee := errAs[*actor.ExitError](t, callErr)
	require.Equal(t, syscall.SIGKILL, ee.Signal)
	require.Equal(t, "loop", ee.Host)
}

func TestRemoteHostLostWhileRunning(t *testing.T) {
	proctest.NeedsProcesses(t, "a loopback host's processes")
	proctest.NoChildrenLeft(t)
	p := newLoopPlacer(t)
	var callErr error
	siblingCancelled := make(chan struct{})
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			close(siblingCancelled)
			return nil
		})
		_, st, err := runningHeadstrong(ctx, n, "far", p, false)
		if err != nil {
			return err
		}
		p.remote(0).loseHost()
		callErr = st.Err()
		return nil
	})
	var le *actor.HostLostError
	require.ErrorAs(t, err, &le)
	require.ErrorIs(t, err, actor.ErrHostLost)
	require.Equal(t, "loop", le.Host)
	require.Equal(t, "far", le.Actor.Name)
	require.Same(t, le, errAs[*actor.HostLostError](t, callErr), "the call and the task get the one error")
	select {
	case <-siblingCancelled:
	default:
		t.Fatal("the sibling was not cancelled")
	}
}

func TestRemoteHostLostWhileStoppingIsFenced(t *testing.T) {
	proctest.NeedsProcesses(t, "a loopback host's processes")
	proctest.NoChildrenLeft(t)
	p := newLoopPlacer(t)
	p.deadBy = 400 * time.Millisecond
	var lostAt time.Time
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, _, err := runningHeadstrong(ctx, n, "far", p, true, actor.WithGrace(time.Hour))
		if err != nil {
			return err
		}
		ref.Cancel() // the ladder waits an hour for the grace...
		lostAt = time.Now()
		p.remote(0).loseHost() // ...when the host is lost
		return nil
	})
	require.NoError(t, err, "a host lost during a stop is no failure")
	require.GreaterOrEqual(t, time.Since(lostAt), p.deadBy, "the task returned only once the actor was certainly dead")
}

func TestRemotePlaceErrors(t *testing.T) {
	proctest.NoChildrenLeft(t)
	for _, sentinel := range []error{actor.ErrHostUnavailable, actor.ErrBuildMismatch, actor.ErrNoCapacity, actor.ErrNotAuthorized} {
		t.Run(strings.TrimPrefix(sentinel.Error(), "actor: "), func(t *testing.T) {
			p := newLoopPlacer(t)
			p.err = fmt.Errorf("host b: %w", sentinel)
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				_, err := actor.Spawn(ctx, n, "far", actor.OnHost(p))
				return err
			})
			require.ErrorIs(t, err, sentinel)
			require.Contains(t, err.Error(), "actor: spawn far: host b: ")
		})
	}
}

func TestStartProcess(t *testing.T) {
	proctest.NeedsProcesses(t, "a process")
	proctest.NoChildrenLeft(t)
	var out, errOut syncBuffer
	p, err := actor.StartProcess(context.Background(), "raw", "", actor.WithOutput(&out), actor.WithStderr(&errOut),
		actor.WithExecutable("/bin/sh"), actor.WithArgs("-c", "echo out; echo err >&2; exit 4"))
	require.NoError(t, err)
	defer p.Link().Close()
	<-p.Done()
	ee := errAs[*actor.ExitError](t, p.Wait())
	require.Equal(t, 4, ee.Code)
	require.Equal(t, "raw", ee.Actor.Name)
	require.Equal(t, p.PID(), ee.Actor.PID)
	require.Equal(t, "out\n", out.String(), "lines without a prefix")
	require.Equal(t, "err\n", errOut.String())
	require.Equal(t, "err\n", ee.Stderr)
}

func TestBuildIDIsGoBuildID(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to compare with")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	want, err := exec.Command(goTool, "tool", "buildid", exe).Output()
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(want)), actor.BuildID())
	require.Equal(t, actor.BuildID(), actor.BuildID())
}

// runningHeadstrong spawns name through p and returns it once a call of
// headstrong runs there, which ignores its ctx (and SIGTERM if
// ignoreTerm).
func runningHeadstrong(ctx context.Context, n *nursery.Nursery, name string, p *loopPlacer, ignoreTerm bool,
	opts ...actor.Option) (*actor.Ref, *actor.Stream[int], error) {
	ref, err := actor.Spawn(ctx, n, name, append(opts, actor.OnHost(p))...)
	if err != nil {
		return nil, nil, err
	}
	st, err := headstrong.Open(ctx, ref, ignoreTerm)
	if err != nil {
		return nil, nil, err
	}
	<-st.C
	return ref, st, nil
}

// errAs returns err as a T, failing the test if it is not one.
func errAs[T error](t *testing.T, err error) T {
	t.Helper()
	var v T
	require.ErrorAs(t, err, &v)
	return v
}
