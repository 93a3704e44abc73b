package supervise_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/supervise"
)

const bound = 20 * time.Second // every wait; only a failure reaches it

var errBoom = errors.New("boom")

// recorder records what the children did, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
	added  chan struct{}
}

func newRecorder() *recorder { return &recorder{added: make(chan struct{}, 1)} }

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
	select {
	case r.added <- struct{}{}:
	default:
	}
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// waitLen waits until n events were recorded and returns them.
func (r *recorder) waitLen(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(bound)
	for {
		if ev := r.get(); len(ev) >= n {
			return ev
		}
		select {
		case <-r.added:
		case <-deadline:
			t.Fatalf("waited for %d events, have %q", n, r.get())
		}
	}
}

// worker is a Start child that records its start, its stop by its
// supervisor, and its end with what it receives on end.
func worker(r *recorder, name string, restart supervise.Restart, end <-chan error) supervise.Child {
	return supervise.Child{Name: name, Restart: restart, Start: func(ctx context.Context, started func()) error {
		r.add("start " + name)
		started()
		select {
		case err := <-end:
			r.add("end " + name)
			return err
		case <-ctx.Done():
			r.add("stop " + name)
			return ctx.Err()
		}
	}}
}

// runAsync runs a supervisor in a goroutine; the returned function cancels
// it and returns Run's error.
func runAsync(t *testing.T, spec supervise.Spec) (wait func(cancel bool) error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- supervise.Run(ctx, spec) }()
	t.Cleanup(cancel)
	return func(doCancel bool) error {
		if doCancel {
			cancel()
		}
		select {
		case err := <-errc:
			return err
		case <-time.After(bound):
			t.Fatal("the supervisor did not return")
			return nil
		}
	}
}

func TestStrategyOrders(t *testing.T) {
	t.Parallel()
	initial := []string{"start a", "start b", "start c"}
	final := []string{"stop c", "stop b", "stop a"}
	tests := []struct {
		name     string
		strategy supervise.Strategy
		temp     string   // a sibling that is Temporary
		restart  []string // after b's end
		final    []string // when cancelled (default: final)
	}{
		{"OneForOne", supervise.OneForOne, "", []string{"start b"}, nil},
		{"OneForAll", supervise.OneForAll, "", []string{"stop c", "stop a", "start a", "start b", "start c"}, nil},
		{"RestForOne", supervise.RestForOne, "", []string{"stop c", "start b", "start c"}, nil},
		// A Temporary sibling is stopped with the group, never restarted.
		{"OneForAllTemporary", supervise.OneForAll, "a", []string{"stop c", "stop a", "start b", "start c"}, []string{"stop c", "stop b"}},
		{"RestForOneTemporary", supervise.RestForOne, "c", []string{"stop c", "start b"}, []string{"stop b", "stop a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRecorder()
			end := make(chan error, 1)
			restart := func(name string) supervise.Restart {
				if name == tt.temp {
					return supervise.Temporary
				}
				return supervise.Permanent
			}
			wait := runAsync(t, supervise.Spec{Strategy: tt.strategy, Children: []supervise.Child{
				worker(r, "a", restart("a"), nil),
				worker(r, "b", supervise.Permanent, end),
				worker(r, "c", restart("c"), nil),
			}})
			require.Equal(t, initial, r.waitLen(t, 3))
			end <- errBoom
			want := append(append(append([]string{}, initial...), "end b"), tt.restart...)
			require.Equal(t, want, r.waitLen(t, len(want)))
			require.ErrorIs(t, wait(true), context.Canceled)
			fin := final
			if tt.final != nil {
				fin = tt.final
			}
			require.Equal(t, append(want, fin...), r.get())
		})
	}
}

func TestRestartTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		restart   supervise.Restart
		err       error
		restarted bool
	}{
		{"PermanentNormal", supervise.Permanent, nil, true},
		{"PermanentFailed", supervise.Permanent, errBoom, true},
		{"TransientNormal", supervise.Transient, nil, false},
		{"TransientFailed", supervise.Transient, errBoom, true},
		{"TemporaryNormal", supervise.Temporary, nil, false},
		{"TemporaryFailed", supervise.Temporary, errBoom, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRecorder()
			end := make(chan error, 1)
			wait := runAsync(t, supervise.Spec{Children: []supervise.Child{worker(r, "x", tt.restart, end)}})
			r.waitLen(t, 1)
			end <- tt.err
			if tt.restarted {
				require.Equal(t, []string{"start x", "end x", "start x"}, r.waitLen(t, 3))
				require.ErrorIs(t, wait(true), context.Canceled)
				return
			}
			require.NoError(t, wait(false), "its only child ended for good: the supervisor returns nil")
			require.Equal(t, []string{"start x", "end x"}, r.get())
		})
	}
}

func TestIntensityExceededEscalates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		intensity int
		failures  int
	}{{"Default", 0, 2}, {"NoRestarts", supervise.NoRestarts, 1}, {"Three", 3, 4}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRecorder()
			end := make(chan error, tt.failures)
			for range tt.failures {
				end <- errBoom
			}
			var events []supervise.EventKind
			siblingStopped := make(chan struct{})
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				n.Go(func(ctx context.Context) error {
					<-ctx.Done()
					close(siblingStopped)
					return nil
				})
				_, err := supervise.Start(n, supervise.Spec{
					Intensity: tt.intensity, Period: time.Hour,
					Children: []supervise.Child{
						worker(r, "a", supervise.Permanent, nil),
						worker(r, "b", supervise.Permanent, end),
					},
					OnEvent: func(e supervise.Event) { events = append(events, e.Kind) },
				})
				return err
			})
			var gave *supervise.GaveUpError
			require.ErrorAs(t, err, &gave)
			require.ErrorIs(t, err, supervise.ErrGaveUp)
			require.ErrorIs(t, err, errBoom, "errors.Is reaches Last")
			require.Equal(t, "b", gave.Child)
			require.Equal(t, tt.failures-1, gave.Restarts)
			require.Equal(t, time.Hour, gave.Period)
			select {
			case <-siblingStopped:
			default:
				t.Fatal("the supervisor's sibling was not cancelled")
			}
			ev := r.get()
			require.Equal(t, []string{"end b", "stop a"}, ev[len(ev)-2:], "gave up: the rest stopped")
			require.Equal(t, supervise.GaveUp, events[len(events)-1])
		})
	}
}

func TestStartChildTerminateChildWhich(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	var sup *supervise.Supervisor
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		var err error
		sup, err = supervise.Start(n, supervise.Spec{Children: []supervise.Child{worker(r, "a", supervise.Permanent, nil)}})
		require.NoError(t, err)
		require.NoError(t, sup.StartChild(worker(r, "b", supervise.Transient, nil)))
		require.ErrorContains(t, sup.StartChild(worker(r, "b", supervise.Transient, nil)), "unique")
		require.ErrorContains(t, sup.StartChild(supervise.Child{Name: "c"}), "exactly one of Run and Start")
		err = sup.StartChild(supervise.Child{Name: "d", Start: func(ctx context.Context, started func()) error { return errBoom }})
		require.ErrorIs(t, err, errBoom)
		require.ErrorContains(t, err, `child "d" failed to start`)
		w := sup.Which()
		require.Len(t, w, 2)
		require.Equal(t, []string{"a", "b"}, []string{w[0].Name, w[1].Name})
		require.Equal(t, supervise.Running, w[1].State)
		require.Nil(t, w[1].Actor)

		require.NoError(t, sup.TerminateChild("b"))
		require.ErrorIs(t, sup.TerminateChild("b"), supervise.ErrUnknownChild)
		require.Equal(t, []string{"start a", "start b", "stop b"}, r.get())
		w = sup.Which()
		require.Len(t, w, 1)
		require.Equal(t, "a", w[0].Name)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"start a", "start b", "stop b", "stop a"}, r.get())
	require.Nil(t, sup.Which())
	require.ErrorIs(t, sup.StartChild(worker(r, "e", supervise.Permanent, nil)), supervise.ErrEnded)
}

func TestFirstStartFailureIsReturned(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	err := supervise.Run(context.Background(), supervise.Spec{Children: []supervise.Child{
		worker(r, "a", supervise.Permanent, nil),
		{Name: "b", Start: func(ctx context.Context, started func()) error { return errBoom }},
		worker(r, "c", supervise.Permanent, nil),
	}})
	require.ErrorIs(t, err, errBoom)
	require.Equal(t, []string{"start a", "stop a"}, r.get())
}

func TestPanicIsAFailure(t *testing.T) {
	t.Parallel()
	err := supervise.Run(context.Background(), supervise.Spec{Intensity: supervise.NoRestarts, Children: []supervise.Child{
		{Name: "p", Run: func(ctx context.Context) error { panic("oops") }},
	}})
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, supervise.ErrGaveUp)
}

// An ActorChild whose body fails gets a new actor. (Tests that spawn
// actors do not run in parallel: proctest.NoChildrenLeft.)
func TestActorChildRestartRespawns(t *testing.T) {
	proctest.NoChildrenLeft(t)
	refs := make(chan *actor.Ref, 2)
	var sup *supervise.Supervisor
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		first := true
		var err error
		sup, err = supervise.Start(n, supervise.Spec{Children: []supervise.Child{
			supervise.ActorChild("w", supervise.Permanent, nil, func(ctx context.Context, ref *actor.Ref) error {
				refs <- ref
				if first {
					first = false
					return errBoom
				}
				<-ctx.Done()
				return nil
			}),
		}})
		require.NoError(t, err)
		r1, r2 := <-refs, <-refs
		require.NotEqual(t, r1.ID(), r2.ID())
		w := sup.Which()
		require.Equal(t, 1, w[0].Restarts)
		require.Same(t, r2, w[0].Actor)
		_, err = pid.Call(ctx, r1, 0)
		require.ErrorIs(t, err, actor.ErrStopped, "the old actor was stopped")
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

// A crashed ActorChild is restarted in a new process, and the old one has
// been reaped by then.
func TestActorChildCrashRestartsInNewProcess(t *testing.T) {
	proctest.NeedsProcesses(t, "a new pid")
	proctest.NoChildrenLeft(t)
	refs := make(chan *actor.Ref, 2)
	var failures []error
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := supervise.Start(n, supervise.Spec{
			Children: []supervise.Child{
				supervise.ActorChild("w", supervise.Permanent, nil, func(ctx context.Context, ref *actor.Ref) error {
					refs <- ref
					<-ctx.Done()
					return ctx.Err()
				}),
			},
			OnEvent: func(e supervise.Event) {
				if e.Kind == supervise.Failed {
					failures = append(failures, e.Err)
				}
			},
		})
		require.NoError(t, err)
		r1 := <-refs
		p1, err := pid.Call(ctx, r1, 0)
		require.NoError(t, err)
		require.Equal(t, r1.PID(), p1)
		_, err = crash.Call(ctx, r1, 0)
		require.Error(t, err)
		r2 := <-refs
		p2, err := pid.Call(ctx, r2, 0)
		require.NoError(t, err)
		require.NotEqual(t, p1, p2)
		require.NotContains(t, proctest.Children(os.Getpid()), p1, "the old process was reaped")
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
	require.Len(t, failures, 1)
	var ee *actor.ExitError
	require.ErrorAs(t, failures[0], &ee)
}

// Cancelling a supervisor while it waits to restart a child (in its
// backoff) ends it at once, its other children stopped, nothing left.
func TestCancelMidRestartLeavesNothing(t *testing.T) {
	proctest.NoChildrenLeft(t)
	r := newRecorder()
	end := make(chan error, 1)
	inBackoff := make(chan struct{})
	spec := supervise.Spec{
		Children: []supervise.Child{
			supervise.ActorChild("keeper", supervise.Permanent, nil, func(ctx context.Context, ref *actor.Ref) error {
				r.add("start keeper")
				<-ctx.Done()
				r.add("stop keeper")
				return nil
			}),
			worker(r, "b", supervise.Permanent, end),
		},
		Backoff: func(int) time.Duration { close(inBackoff); return time.Hour },
	}
	wait := runAsync(t, spec)
	r.waitLen(t, 2)
	end <- errBoom
	select {
	case <-inBackoff:
	case <-time.After(bound):
		t.Fatal("no backoff")
	}
	require.ErrorIs(t, wait(true), context.Canceled)
	got := r.get()
	require.Len(t, got, 4)
	// keeper's body records its start after started, so b may come first.
	require.ElementsMatch(t, []string{"start keeper", "start b"}, got[:2])
	require.Equal(t, []string{"end b", "stop keeper"}, got[2:])
}

// Cancelling a supervisor while a restarted child starts (before it is
// ready) stops it and the rest.
func TestCancelDuringRestartStart(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	starting := make(chan struct{})
	incarnation := 0
	wait := runAsync(t, supervise.Spec{Children: []supervise.Child{
		worker(r, "a", supervise.Permanent, nil),
		{Name: "b", Start: func(ctx context.Context, started func()) error {
			incarnation++
			if incarnation == 1 {
				started()
				return errBoom
			}
			close(starting)
			<-ctx.Done()
			r.add("stop b before ready")
			return ctx.Err()
		}},
	}})
	select {
	case <-starting:
	case <-time.After(bound):
		t.Fatal("no restart")
	}
	require.ErrorIs(t, wait(true), context.Canceled)
	require.Equal(t, []string{"start a", "stop b before ready", "stop a"}, r.get())
}

func TestSpecMistakes(t *testing.T) {
	t.Parallel()
	run := func(ctx context.Context) error { return nil }
	for _, tt := range []struct {
		children []supervise.Child
		msg      string
	}{
		{[]supervise.Child{{Run: run}}, "no Name"},
		{[]supervise.Child{{Name: "a", Run: run}, {Name: "a", Run: run}}, "unique"},
		{[]supervise.Child{{Name: "a"}}, "exactly one"},
	} {
		require.ErrorContains(t, supervise.Run(context.Background(), supervise.Spec{Children: tt.children}), tt.msg)
	}
}

// A stop waits at most the child's Shutdown; the child is still joined
// before the supervisor returns.
func TestShutdownBoundsAStop(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	release := make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	var sup *supervise.Supervisor
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		defer free() // a failed require must not leave slow waiting, and Run with it
		var err error
		sup, err = supervise.Start(n, supervise.Spec{Children: []supervise.Child{
			{Name: "slow", Shutdown: time.Millisecond, Run: func(ctx context.Context) error {
				<-ctx.Done()
				<-release // ignores its stop until released
				r.add("slow returned")
				return nil
			}},
		}})
		require.NoError(t, err)
		require.NoError(t, sup.TerminateChild("slow"))
		require.Empty(t, r.get(), "TerminateChild went on after Shutdown")
		require.Empty(t, sup.Which())
		free()
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"slow returned"}, r.get(), "joined before the supervisor returned")
}

// A start that fails inside a restart group (b's second incarnation returns
// nil before started) is a failure, and does not strand the rest of the
// group: c is started again and b's failure is handled in its turn.
func TestFailedStartInRestartGroup(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	endA := make(chan error, 1)
	var mu sync.Mutex
	var failed []error
	incarnation := 0
	wait := runAsync(t, supervise.Spec{
		Strategy:  supervise.OneForAll,
		Intensity: 10,
		OnEvent: func(e supervise.Event) {
			if e.Kind == supervise.Failed && e.Child == "b" {
				mu.Lock()
				failed = append(failed, e.Err)
				mu.Unlock()
			}
		},
		Children: []supervise.Child{
			worker(r, "a", supervise.Permanent, endA),
			{Name: "b", Restart: supervise.Transient, Start: func(ctx context.Context, started func()) error {
				incarnation++
				if incarnation == 2 {
					r.add("b returns before started")
					return nil
				}
				r.add("start b")
				started()
				<-ctx.Done()
				r.add("stop b")
				return ctx.Err()
			}},
			worker(r, "c", supervise.Permanent, nil),
		},
	})
	require.Equal(t, []string{"start a", "start b", "start c"}, r.waitLen(t, 3))
	endA <- errBoom
	want := []string{"start a", "start b", "start c", "end a",
		"stop c", "stop b", "start a", "b returns before started", "start c",
		"stop c", "stop a", "start a", "start b", "start c"}
	require.Equal(t, want, r.waitLen(t, len(want)))
	require.ErrorIs(t, wait(true), context.Canceled)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, failed, 1)
	require.ErrorIs(t, failed[0], nursery.ErrNotStarted)
}

// A child that calls the supervisor before it is ready, Backoff and OnEvent
// get Which at once and an ErrReentrant from StartChild and TerminateChild,
// instead of a supervisor that waits for itself forever.
func TestReentrantCallsFailFast(t *testing.T) {
	t.Parallel()
	var sup atomic.Pointer[supervise.Supervisor]
	var mu sync.Mutex
	var got []error
	record := func(err error) {
		mu.Lock()
		got = append(got, err)
		mu.Unlock()
	}
	calls := func() {
		s := sup.Load()
		if s == nil {
			return
		}
		record(errors.New(fmt.Sprint(len(s.Which()))))
		record(s.StartChild(supervise.Child{Name: "x", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }}))
		record(s.TerminateChild("a"))
	}
	r := newRecorder()
	end := make(chan error, 1)
	restarted := make(chan struct{})
	incarnation := 0
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		s, err := supervise.Start(n, supervise.Spec{
			Intensity: 10,
			Backoff:   func(int) time.Duration { calls(); return 0 },
			OnEvent: func(e supervise.Event) {
				if e.Kind == supervise.Restarted {
					calls()
				}
			},
			Children: []supervise.Child{
				worker(r, "a", supervise.Permanent, nil),
				{Name: "b", Start: func(ctx context.Context, started func()) error {
					incarnation++
					if incarnation > 1 {
						calls()
						close(restarted)
					}
					started()
					if incarnation == 1 {
						return <-end
					}
					<-ctx.Done()
					return nil
				}},
			},
		})
		require.NoError(t, err)
		sup.Store(s)
		end <- errBoom
		select {
		case <-restarted:
		case <-time.After(bound):
			t.Fatal("no restart")
		}
		require.Len(t, s.Which(), 2)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 9) // Backoff, OnEvent, the child
	for i := 0; i < len(got); i += 3 {
		require.EqualError(t, got[i], "2")
		require.ErrorIs(t, got[i+1], supervise.ErrReentrant)
		require.ErrorIs(t, got[i+2], supervise.ErrReentrant)
	}
}

// TerminateChild of the last child still running, the others ended, ends
// the supervisor with nil, as when that child had ended itself.
func TestTerminateLastRunningChildEnds(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	failed := make(chan struct{})
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		sup, err := supervise.Start(n, supervise.Spec{
			OnEvent: func(e supervise.Event) {
				if e.Kind == supervise.Failed {
					close(failed)
				}
			},
			Children: []supervise.Child{
				{Name: "a", Restart: supervise.Temporary, Run: func(ctx context.Context) error { return errBoom }},
				worker(r, "b", supervise.Permanent, nil),
			},
		})
		require.NoError(t, err)
		select {
		case <-failed:
		case <-time.After(bound):
			t.Fatal("a did not fail")
		}
		require.NoError(t, sup.TerminateChild("b"))
		return nil // the nursery waits for the supervisor: it must end by itself
	})
	require.NoError(t, err)
	require.Equal(t, []string{"start b", "stop b"}, r.get())
}

// Which called from OnEvent sees the supervisor as of the event: the
// child that failed is no longer Running, a restarted one is Restarting
// with the event's count until it has Started, and a sibling stopped for
// a OneForAll restart is Restarting while it stops.
func TestWhichInOnEventMatchesTheEvent(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	endA := make(chan error, 1)
	var sv atomic.Pointer[supervise.Supervisor]
	var mu sync.Mutex
	type seen struct {
		ev    supervise.Event
		which map[string]supervise.ChildInfo
	}
	var got []seen
	spec := supervise.Spec{
		Strategy:  supervise.OneForAll,
		Intensity: 10,
		OnEvent: func(e supervise.Event) {
			s := sv.Load()
			if s == nil {
				return // the first starts, before Start returned
			}
			w := map[string]supervise.ChildInfo{}
			for _, c := range s.Which() {
				w[c.Name] = c
			}
			mu.Lock()
			got = append(got, seen{e, w})
			mu.Unlock()
		},
		Children: []supervise.Child{
			worker(r, "a", supervise.Permanent, endA),
			{Name: "b", Restart: supervise.Permanent, Shutdown: bound, Start: func(ctx context.Context, started func()) error {
				r.add("start b")
				started()
				<-ctx.Done()
				// Stopped: Which is asked while b has not returned yet.
				if s := sv.Load(); s != nil {
					for _, c := range s.Which() {
						if c.Name == "b" {
							r.add("b stopping, Which says " + c.State.String())
						}
					}
				}
				return ctx.Err()
			}},
		},
	}
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		s, err := supervise.Start(n, spec)
		require.NoError(t, err)
		sv.Store(s)
		endA <- errBoom
		want := []string{"start a", "start b", "end a", "b stopping, Which says restarting", "start a", "start b"}
		require.Equal(t, want, r.waitLen(t, len(want)))
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, g := range got {
		kinds = append(kinds, g.ev.Kind.String()+" "+g.ev.Child)
		c := g.which[g.ev.Child]
		switch g.ev.Kind {
		case supervise.Failed:
			require.NotEqual(t, supervise.Running, c.State, "Which at %v", g.ev)
		case supervise.Restarted:
			require.Equal(t, supervise.Restarting, c.State, "Which at %v", g.ev)
			require.Equal(t, g.ev.Restarts, c.Restarts, "Which at %v", g.ev)
		case supervise.Started:
			require.Equal(t, supervise.Running, c.State, "Which at %v", g.ev)
			require.Equal(t, g.ev.Restarts, c.Restarts, "Which at %v", g.ev)
		}
	}
	require.Equal(t, []string{"failed a", "restarted a", "started a", "restarted b", "started b"}, kinds)
}
