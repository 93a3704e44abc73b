package actor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// The discovery tests build trees of actors (nmTree) and run operations
// (nmOp) at any node of them (nmVia): each node keeps the Refs of the
// children it spawned, by their names, which are unique in the test run,
// so that the same map serves the goroutine backend, where every node
// lives in this process.

var (
	nmNodes sync.Map // node name -> *actor.Ref of that node, in its parent's process
	nmRegs  sync.Map // node name + "/" + registered name -> *actor.Registration
	nmSeq   atomic.Int64
)

// nmPrefix makes the node and registration names of one test unique.
func nmPrefix() string { return fmt.Sprintf("nm%d", nmSeq.Add(1)) }

// An nmOp is an operation run at a node of a tree.
type nmOp struct {
	Kind    string // register, close, find, findAll, wait, watch, kill
	Node    string // the node it runs at ("root" for this process)
	Name    string // the name registered or looked up; for kill, the child
	Unique  bool
	Timeout time.Duration // for wait
	Events  int           // for watch: how many events to collect
}

type nmEvent struct {
	Kind  actor.NameEventKind
	Actor string // the registrant's spawn name
	Rev   uint64
	Err   string
	Exit  bool // Err is an *ExitError
}

// nmResult is what an operation saw. Find and Wait exercise every kind of
// call on the peer Ref they get.
type nmResult struct {
	Rev    uint64
	Actor  string // the found actor's spawn name
	Square int
	Count  []int
	Upper  []string
	Batch  []int
	Actors []string // findAll
	Events []nmEvent
}

type nmVia struct {
	Path []string
	Op   nmOp
}

// nmExposed are the functions every test registration exposes.
var nmExposed = actor.Expose(square, count, upper, block, exit, nmRegisterHere)

// nmTree and nmRoute call themselves, so they are declared in init.
var (
	nmTree  *actor.StreamFunction[[]string, string]
	nmRoute *actor.Function[nmVia, nmResult]
)

func init() {
	// nmTree spawns chain[0], which runs nmTree with the rest of the chain:
	// it yields once the whole chain is up, and keeps it up until cancelled.
	nmTree = actor.StreamFunc("test.names.tree", func(ctx context.Context, chain []string, out chan<- string) error {
		if len(chain) == 0 {
			out <- "ready"
			<-ctx.Done()
			return nil
		}
		return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, chain[0])
			if err != nil {
				return err
			}
			nmNodes.Store(chain[0], ref)
			defer nmNodes.Delete(chain[0])
			s, err := nmTree.Open(ctx, ref, chain[1:])
			if err != nil {
				return err
			}
			for v := range s.C {
				out <- v
			}
			return s.Err()
		})
	})

	// nmRoute runs an operation at the end of a path of nodes.
	nmRoute = actor.Func("test.names.via", func(ctx context.Context, v nmVia) (nmResult, error) {
		return route(ctx, v.Path, v.Op)
	})
}

var (
	// nmRegisterHere registers the actor it runs in under name: a peer
	// calling it makes its host register.
	nmRegisterHere = actor.Func("test.names.registerHere", func(ctx context.Context, name string) (uint64, error) {
		reg, err := actor.Register(ctx, name)
		if err != nil {
			return 0, err
		}
		return reg.Revision(), nil
	})

	// nmFindInStream looks name up from inside a streaming function, and
	// yields the square of 5 computed there.
	nmFindInStream = actor.StreamFunc("test.names.findInStream", func(ctx context.Context, name string, out chan<- int) error {
		ref, err := actor.Find(ctx, name)
		if err != nil {
			return err
		}
		v, err := square.Call(ctx, ref, 5)
		if err != nil {
			return err
		}
		out <- v
		return nil
	})

	// nmCrashChild spawns a child, has it register name, ends it (how:
	// exit, cancel, kill), and once its nursery has returned, looks the
	// name up: the call's error is Find's (nil if it found someone).
	nmCrashChild = actor.Func("test.names.crashChild", func(ctx context.Context, a [2]string) (string, error) {
		name, how := a[0], a[1]
		err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, name+"-child")
			if err != nil {
				return err
			}
			if _, err := registerIn(ctx, ref, name, false); err != nil {
				return err
			}
			switch how {
			case "exit":
				_, err = exit.Call(ctx, ref, 3)
				return err
			case "kill":
				ref.Kill()
			default:
				ref.Cancel()
			}
			return nil
		})
		var ee *actor.ExitError
		if err != nil && !errors.As(err, &ee) {
			return "", err
		}
		_, ferr := actor.Find(ctx, name)
		if ferr == nil {
			return "", errors.New("found right after the nursery returned")
		}
		return "", ferr
	})
)

// route runs op at the node at the end of path, from here.
func route(ctx context.Context, path []string, op nmOp) (nmResult, error) {
	if len(path) > 0 {
		v, ok := nmNodes.Load(path[0])
		if !ok {
			return nmResult{}, fmt.Errorf("no node %s here", path[0])
		}
		return nmRoute.Call(ctx, v.(*actor.Ref), nmVia{Path: path[1:], Op: op})
	}
	return nmDo(ctx, op)
}

func nmDo(ctx context.Context, op nmOp) (nmResult, error) {
	var res nmResult
	switch op.Kind {
	case "register":
		opts := []actor.RegisterOption{nmExposed}
		if op.Unique {
			opts = append(opts, actor.Unique())
		}
		reg, err := actor.Register(ctx, op.Name, opts...)
		if err != nil {
			return res, err
		}
		nmRegs.Store(op.Node+"/"+op.Name, reg)
		res.Rev = reg.Revision()
	case "close":
		v, ok := nmRegs.LoadAndDelete(op.Node + "/" + op.Name)
		if !ok {
			return res, fmt.Errorf("%s has no registration %q", op.Node, op.Name)
		}
		reg := v.(*actor.Registration)
		if err := reg.Close(ctx); err != nil {
			return res, err
		}
		return res, reg.Close(ctx) // twice is fine
	case "find", "wait":
		var ref *actor.Ref
		var err error
		if op.Kind == "find" {
			ref, err = actor.Find(ctx, op.Name)
		} else {
			wctx := ctx
			if op.Timeout > 0 {
				var cancel context.CancelFunc
				wctx, cancel = context.WithTimeout(ctx, op.Timeout)
				defer cancel()
			}
			ref, err = actor.Wait(wctx, op.Name)
		}
		if err != nil {
			return res, err
		}
		return exercise(ctx, ref)
	case "findAll":
		refs, err := actor.FindAll(ctx, op.Name)
		if err != nil {
			return res, err
		}
		for _, r := range refs {
			res.Actors = append(res.Actors, r.Name())
		}
	case "watch":
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for ev, err := range actor.Watch(wctx, op.Name) {
			if err != nil {
				return res, err
			}
			res.Events = append(res.Events, event(ev))
			if len(res.Events) == op.Events {
				break
			}
		}
	case "kill":
		v, ok := nmNodes.Load(op.Name)
		if !ok {
			return res, fmt.Errorf("no node %s here", op.Name)
		}
		v.(*actor.Ref).Kill()
	default:
		return res, fmt.Errorf("unknown op %q", op.Kind)
	}
	return res, nil
}

// event is what a test compares of a NameEvent.
func event(ev actor.NameEvent) nmEvent {
	e := nmEvent{Kind: ev.Kind, Actor: ev.Actor.Name, Rev: ev.Revision}
	if ev.Err != nil {
		e.Err = ev.Err.Error()
		var ee *actor.ExitError
		e.Exit = errors.As(ev.Err, &ee)
	}
	return e
}

// exercise makes a call, a stream, a duplex and a batch on a peer Ref.
func exercise(ctx context.Context, ref *actor.Ref) (nmResult, error) {
	res := nmResult{Actor: ref.Name()}
	var err error
	if res.Square, err = square.Call(ctx, ref, 7); err != nil {
		return res, fmt.Errorf("call: %w", err)
	}
	s, err := count.Open(ctx, ref, 3)
	if err != nil {
		return res, fmt.Errorf("stream: %w", err)
	}
	for v := range s.C {
		res.Count = append(res.Count, v)
	}
	if err := s.Err(); err != nil {
		return res, fmt.Errorf("stream: %w", err)
	}
	d, err := upper.Open(ctx, ref)
	if err != nil {
		return res, fmt.Errorf("duplex: %w", err)
	}
	for _, w := range []string{"ab", "cd"} {
		d.In <- w
		res.Upper = append(res.Upper, <-d.Out)
	}
	close(d.In)
	for range d.Out {
	}
	if err := d.Err(); err != nil {
		return res, fmt.Errorf("duplex: %w", err)
	}
	outs, errs, err := actor.CallBatch(ctx, ref, square, []int{2, 3})
	if err != nil {
		return res, fmt.Errorf("batch: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("batch: %w", err)
	}
	res.Batch = outs
	return res, nil
}

// A nmForest is the trees of a test: node names to their paths from the
// root.
type nmForest struct {
	prefix string
	paths  map[string][]string
	nodes  map[string]*actor.Ref // the root's children
}

// grow spawns, in n, a chain of nodes for each chain of names (prefixed),
// and returns once every one is up. The trees end with n.
func grow(ctx context.Context, t *testing.T, n *nursery.Nursery, chains ...[]string) *nmForest {
	t.Helper()
	f := &nmForest{prefix: nmPrefix(), paths: map[string][]string{"root": nil}, nodes: map[string]*actor.Ref{}}
	for _, chain := range chains {
		full := make([]string, len(chain))
		for i, c := range chain {
			full[i] = f.prefix + "." + c
			f.paths[c] = full[:i+1]
		}
		ref, err := actor.Spawn(ctx, n, full[0])
		require.NoError(t, err)
		nmNodes.Store(full[0], ref)
		f.nodes[chain[0]] = ref
		t.Cleanup(func() { nmNodes.Delete(full[0]) })
		s, err := nmTree.Open(ctx, ref, full[1:])
		require.NoError(t, err)
		require.Equal(t, "ready", <-s.C, "the chain %v is up", chain)
	}
	return f
}

// at runs op at node.
func (f *nmForest) at(ctx context.Context, node string, op nmOp) (nmResult, error) {
	op.Node = f.node(node)
	return route(ctx, f.paths[node], op)
}

// node is the spawn name of node.
func (f *nmForest) node(node string) string {
	if node == "root" {
		return "root"
	}
	return f.prefix + "." + node
}

// name is a registration name unique to the test.
func (f *nmForest) name(s string) string { return f.prefix + "-" + s }

// inNursery runs body in a nursery with a deadline, and cancels the
// nursery once body returns.
func inNursery(t *testing.T, d time.Duration, body func(ctx context.Context, n *nursery.Nursery)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		body(ctx, n)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

func TestNamesAcrossTheTree(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 60*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		f := grow(ctx, t, n, []string{"a", "a1", "a2"}, []string{"b", "b1", "b2"})
		cases := []struct{ registrant, finder string }{
			{"a2", "root"},   // the root finds a leaf
			{"root", "a2"},   // a leaf finds the root's own registration
			{"b2", "a2"},     // a's grandchild finds b's grandchild
			{"a", "a2"},      // an ancestor
			{"a2", "a"},      // a descendant
			{"a1", "b1"},     // a cousin
			{"b", "b"},       // itself
			{"a1", "root"},   // the middle of a chain
			{"root", "root"}, // the root itself
		}
		for _, c := range cases {
			name := f.name(c.registrant + "-by-" + c.finder)
			reg, err := f.at(ctx, c.registrant, nmOp{Kind: "register", Name: name})
			require.NoError(t, err, "%s registers", c.registrant)
			require.NotZero(t, reg.Rev)
			for _, kind := range []string{"find", "wait"} {
				got, err := f.at(ctx, c.finder, nmOp{Kind: kind, Name: name})
				require.NoError(t, err, "%s: %s %ss %s", name, c.finder, kind, c.registrant)
				require.Equal(t, nmResult{Actor: f.node(c.registrant), Square: 49, Count: []int{0, 1, 2},
					Upper: []string{"AB", "CD"}, Batch: []int{4, 9}}, got, "%s: %s %ss %s", name, c.finder, kind, c.registrant)
			}
			all, err := f.at(ctx, c.finder, nmOp{Kind: "findAll", Name: name})
			require.NoError(t, err)
			require.Equal(t, []string{f.node(c.registrant)}, all.Actors)
			_, err = f.at(ctx, c.registrant, nmOp{Kind: "close", Name: name})
			require.NoError(t, err)
		}
	})
}

func TestNamesWaitAndWatchAcrossSubtrees(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 60*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		f := grow(ctx, t, n, []string{"a", "a1", "a2"}, []string{"b", "b1", "b2"})
		name := f.name("later")
		waited := make(chan error, 1)
		watched := make(chan nmResult, 1)
		go func() {
			got, err := f.at(ctx, "a2", nmOp{Kind: "wait", Name: name})
			if err == nil && got.Actor != f.node("b1") {
				err = fmt.Errorf("waited for %s, got %s", f.node("b1"), got.Actor)
			}
			waited <- err
		}()
		go func() {
			got, err := f.at(ctx, "a1", nmOp{Kind: "watch", Name: name, Events: 2})
			require.NoError(t, err)
			watched <- got
		}()
		untilWaiting(t, name, 2)
		select {
		case err := <-waited:
			t.Fatalf("Wait returned before anyone registered: %v", err)
		default:
		}
		reg, err := f.at(ctx, "b1", nmOp{Kind: "register", Name: name})
		require.NoError(t, err)
		require.NoError(t, <-waited)
		_, err = f.at(ctx, "b1", nmOp{Kind: "close", Name: name})
		require.NoError(t, err)
		got := <-watched
		require.Equal(t, []nmEvent{
			{Kind: actor.Registered, Actor: f.node("b1"), Rev: reg.Rev},
			{Kind: actor.Gone, Actor: f.node("b1"), Rev: reg.Rev},
		}, got.Events)
	})
}

// untilWaiting returns once the registrar serves n Waits and Watches of
// name. They run in other processes and at the registrar's end of their
// calls (which a cancel reaches after the caller has returned): it waits
// for the registrar's count to change, for at most 10 s.
func untilWaiting(t *testing.T, name string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, actor.UntilRegistrarWaiters(ctx, name, n))
}

// leftNothing checks that the registrar holds nothing under name once
// the waits and watches of it have ended, and that the links still serve:
// a1 registers it, and finder waits for it.
func leftNothing(ctx context.Context, t *testing.T, f *nmForest, name, finder string) {
	t.Helper()
	untilWaiting(t, name, 0)
	require.False(t, actor.RegistrarHolds(name), "nothing is left in the registrar")
	_, err := f.at(ctx, "a1", nmOp{Kind: "register", Name: name})
	require.NoError(t, err)
	got, err := f.at(ctx, finder, nmOp{Kind: "wait", Name: name})
	require.NoError(t, err)
	require.Equal(t, f.node("a1"), got.Actor)
}

// registerIn has the actor ref register name, exposing nmExposed.
func registerIn(ctx context.Context, ref *actor.Ref, name string, unique bool) (nmResult, error) {
	return nmRoute.Call(ctx, ref, nmVia{Op: nmOp{Kind: "register", Node: ref.Name(), Name: name, Unique: unique}})
}

// watchFrom starts a watch of name in this process, and returns the
// channel of its events; the watch ends with ctx.
func watchFrom(ctx context.Context, name string) <-chan actor.NameEvent {
	c := make(chan actor.NameEvent, 16)
	go func() {
		defer close(c)
		for ev, err := range actor.Watch(ctx, name) {
			if err != nil {
				return
			}
			c <- ev
		}
	}()
	return c
}

// nextEvent is the next event of a watch, bounded in time.
func nextEvent(t *testing.T, c <-chan actor.NameEvent) actor.NameEvent {
	t.Helper()
	select {
	case ev, ok := <-c:
		require.True(t, ok, "the watch ended")
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return actor.NameEvent{}
}

func TestNamesDieWithTheirActor(t *testing.T) {
	cases := []struct {
		how       string
		processes bool
		exit      bool // the Gone event carries an *ExitError
	}{
		{how: "exit", processes: true, exit: true},
		{how: "sigkill", processes: true, exit: true},
		{how: "cancel"},
		{how: "kill"},
	}
	for _, c := range cases {
		t.Run(c.how, func(t *testing.T) {
			if c.processes {
				proctest.NeedsProcesses(t, "a crash of the actor alone")
			}
			proctest.NoChildrenLeft(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			name := nmPrefix() + "-mortal"
			events := watchFrom(ctx, name)
			var rev uint64
			err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
				ref, err := actor.Spawn(ctx, n, name+"-actor")
				if err != nil {
					return err
				}
				got, err := registerIn(ctx, ref, name, false)
				if err != nil {
					return err
				}
				rev = got.Rev
				switch c.how {
				case "exit":
					_, err = exit.Call(ctx, ref, 3)
					return err
				case "sigkill":
					require.NoError(t, sigkill(ref.PID()))
				case "cancel":
					ref.Cancel()
				case "kill":
					ref.Kill()
				}
				return nil
			})
			var ee *actor.ExitError
			require.Equal(t, c.exit, errors.As(err, &ee), "the nursery's error: %v", err)
			_, ferr := actor.Find(ctx, name)
			require.ErrorIs(t, ferr, actor.ErrNotFound, "the name is gone as soon as the nursery returned")
			ev := nextEvent(t, events)
			require.Equal(t, actor.Registered, ev.Kind)
			require.Equal(t, rev, ev.Revision)
			ev = nextEvent(t, events)
			require.Equal(t, actor.Gone, ev.Kind)
			require.Equal(t, rev, ev.Revision)
			if c.exit {
				require.ErrorAs(t, ev.Err, &ee, "Gone says how it died")
				require.Equal(t, ee.Error(), ev.Err.Error())
			} else {
				require.NoError(t, ev.Err, "a stop is not a death")
			}
		})
	}
}

func TestNamesDieWithTheirActorDeepInTheTree(t *testing.T) {
	hows := []string{"exit", "cancel", "kill"}
	for _, how := range hows {
		t.Run(how, func(t *testing.T) {
			if how == "exit" {
				proctest.NeedsProcesses(t, "a crash of the actor alone")
			}
			proctest.NoChildrenLeft(t)
			inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
				f := grow(ctx, t, n, []string{"a", "a1"})
				// a1 spawns a child, which registers; a1 ends it, and Finds
				// the name right after the nursery that held it returned.
				v, ok := nmNodes.Load(f.node("a"))
				require.True(t, ok)
				_, err := nmCrashChildVia(ctx, v.(*actor.Ref), f.node("a1"), f.name("deep"), how)
				require.ErrorIs(t, err, actor.ErrNotFound)
				require.NotContains(t, err.Error(), "found right after")
			})
		})
	}
}

// nmCrashVia runs nmCrashChild in the node a[0], a child of the actor it runs in.
var nmCrashVia = actor.Func("test.names.crashVia", func(ctx context.Context, a [3]string) (string, error) {
	v, ok := nmNodes.Load(a[0])
	if !ok {
		return "", fmt.Errorf("no node %s here", a[0])
	}
	return nmCrashChild.Call(ctx, v.(*actor.Ref), [2]string{a[1], a[2]})
})

func nmCrashChildVia(ctx context.Context, ref *actor.Ref, node, name, how string) (string, error) {
	return nmCrashVia.Call(ctx, ref, [3]string{node, name, how})
}

func TestNamesOfAKilledSubtreeGo(t *testing.T) {
	proctest.NeedsProcesses(t, "SIGKILL of an actor in the middle of the tree")
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var f *nmForest
	var names []string
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		f = grow(ctx, t, n, []string{"a", "a1", "a2"}, []string{"b"})
		for _, node := range []string{"a", "a1", "a2", "b"} {
			name := f.name("of-" + node)
			names = append(names, name)
			_, err := f.at(ctx, node, nmOp{Kind: "register", Name: name})
			require.NoError(t, err)
		}
		require.NoError(t, sigkill(f.nodes["a"].PID()))
		return nil
	})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, syscall.SIGKILL, ee.Signal)
	for _, name := range names {
		_, err := actor.Find(ctx, name)
		require.ErrorIs(t, err, actor.ErrNotFound, "%s is gone with the nursery", name)
	}
}

func TestNamesKilledMiddleDropsItsSubtree(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		f := grow(ctx, t, n, []string{"a", "a1", "a2"}, []string{"b"})
		for _, node := range []string{"a", "a1", "a2"} {
			_, err := f.at(ctx, node, nmOp{Kind: "register", Name: f.name("of-" + node)})
			require.NoError(t, err)
		}
		var watches []<-chan actor.NameEvent
		for _, node := range []string{"a1", "a2"} {
			events := watchFrom(ctx, f.name("of-"+node))
			require.Equal(t, actor.Registered, nextEvent(t, events).Kind)
			watches = append(watches, events)
		}
		// a kills a1 (its owner's Kill): a1's and a2's names go (a2's may
		// go first, with its own end), a's stays.
		_, err := f.at(ctx, "a", nmOp{Kind: "kill", Name: f.node("a1")})
		require.NoError(t, err)
		for _, events := range watches {
			ev := nextEvent(t, events)
			require.Equal(t, actor.Gone, ev.Kind)
			require.NoError(t, ev.Err, "%s did not die of itself", ev.Actor)
		}
		for _, node := range []string{"a1", "a2"} {
			_, err = actor.Find(ctx, f.name("of-"+node))
			require.ErrorIs(t, err, actor.ErrNotFound)
		}
		got, err := f.at(ctx, "b", nmOp{Kind: "find", Name: f.name("of-a")})
		require.NoError(t, err)
		require.Equal(t, f.node("a"), got.Actor)
	})
}

func TestNamesUniqueRace(t *testing.T) {
	proctest.NoChildrenLeft(t)
	const racers = 20
	inNursery(t, 120*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		name := nmPrefix() + "-leader"
		refs := make([]*actor.Ref, racers)
		var spawns sync.WaitGroup
		for i := range refs {
			spawns.Go(func() {
				ref, err := actor.Spawn(ctx, n, fmt.Sprintf("%s-racer%d", name, i))
				require.NoError(t, err)
				refs[i] = ref
			})
		}
		spawns.Wait()
		race := func(among []int) (winner int, rev uint64) {
			errs := make([]error, len(among))
			revs := make([]uint64, len(among))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for j, i := range among {
				wg.Go(func() {
					<-start
					got, err := registerIn(ctx, refs[i], name, true)
					errs[j], revs[j] = err, got.Rev
				})
			}
			close(start)
			wg.Wait()
			winner = -1
			for j, err := range errs {
				if err == nil {
					require.Equal(t, -1, winner, "a second winner: %s", refs[among[j]])
					winner, rev = among[j], revs[j]
					continue
				}
				require.ErrorIs(t, err, actor.ErrNameTaken)
			}
			require.NotEqual(t, -1, winner, "nobody won")
			return winner, rev
		}
		all := make([]int, racers)
		for i := range all {
			all[i] = i
		}
		events := watchFrom(ctx, name)
		first, rev1 := race(all)
		ev := nextEvent(t, events)
		require.Equal(t, rev1, ev.Revision)
		refs[first].Cancel()
		ev = nextEvent(t, events)
		require.Equal(t, actor.Gone, ev.Kind, "the winner ended")
		rest := append(all[:first:first], all[first+1:]...)
		_, rev2 := race(rest)
		require.Greater(t, rev2, rev1, "the next owner's revision is greater")
	})
}

func TestNamesUniqueAgainstGroups(t *testing.T) {
	proctest.NoChildrenLeft(t)
	cases := []struct {
		name          string
		first, second bool // Unique
		taken         bool
	}{
		{"group then group", false, false, false},
		{"group then unique", false, true, true},
		{"unique then group", true, false, true},
		{"unique then unique", true, true, true},
	}
	inNursery(t, 60*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		f := grow(ctx, t, n, []string{"a"}, []string{"b"})
		for _, c := range cases {
			name := f.name(strings.ReplaceAll(c.name, " ", "-"))
			_, err := f.at(ctx, "a", nmOp{Kind: "register", Name: name, Unique: c.first})
			require.NoError(t, err, c.name)
			_, err = f.at(ctx, "b", nmOp{Kind: "register", Name: name, Unique: c.second})
			if c.taken {
				require.ErrorIs(t, err, actor.ErrNameTaken, c.name)
			} else {
				require.NoError(t, err, c.name)
			}
			all, err := actor.FindAll(ctx, name)
			require.NoError(t, err)
			want := []string{f.node("a")}
			if !c.taken {
				want = append(want, f.node("b")) // in the order they registered
			}
			var got []string
			for _, r := range all {
				got = append(got, r.Name())
			}
			require.Equal(t, want, got, c.name)
		}
	})
}

// nmNamed is a Named with any name.
type nmNamed string

func (n nmNamed) Name() string { return string(n) }

func TestNamesRefuseWhatIsNotExposed(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		ref, err := actor.Spawn(ctx, n, nmPrefix()+"-guarded")
		require.NoError(t, err)
		name := ref.Name()
		_, err = registerIn(ctx, ref, name, false)
		require.NoError(t, err)
		peer, err := actor.Find(ctx, name)
		require.NoError(t, err)

		_, err = pid.Call(ctx, peer, struct{}{})
		require.ErrorIs(t, err, actor.ErrNotExposed)
		require.ErrorContains(t, err, "actor.Expose", "the error names the fix")
		_, errs, err := actor.CallBatch(ctx, peer, pid, []struct{}{{}})
		if err == nil {
			err = errors.Join(errs...)
		}
		require.ErrorIs(t, err, actor.ErrNotExposed, "a batch of a function not exposed")
		for _, fn := range []string{"grove.stop", "grove.names.register", "grove.names.drop", "grove.names.secret", "grove.batch", "grove.nothing"} {
			_, err := actor.CallByName[any](ctx, peer, fn, nil)
			require.ErrorIs(t, err, actor.ErrNotExposed, fn)
		}
		got, err := square.Call(ctx, peer, 4)
		require.NoError(t, err, "the target keeps serving its peers")
		require.Equal(t, 16, got)
		got, err = square.Call(ctx, ref, 5)
		require.NoError(t, err, "and its parent")
		require.Equal(t, 25, got)

		for _, fn := range []string{"grove.stop", "grove.names.register"} {
			_, err = actor.Register(ctx, nmPrefix(), actor.Expose(nmNamed(fn)))
			require.ErrorContains(t, err, "reserved", fn)
			require.ErrorContains(t, err, fn)
		}
	})
}

func TestNamesPeerRefFailsTypedWhenItsActorGoes(t *testing.T) {
	cases := []struct {
		how  string
		exit bool
	}{{"exit", true}, {"cancel", false}}
	for _, c := range cases {
		t.Run(c.how, func(t *testing.T) {
			if c.exit {
				proctest.NeedsProcesses(t, "a crash of the actor alone")
			}
			proctest.NoChildrenLeft(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			name := nmPrefix() + "-peer"
			var peer *actor.Ref
			inFlight := make(chan error, 1)
			err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
				ref, err := actor.Spawn(ctx, n, name+"-1")
				if err != nil {
					return err
				}
				if _, err := registerIn(ctx, ref, name, false); err != nil {
					return err
				}
				peer, err = actor.Find(ctx, name)
				require.NoError(t, err)
				s, err := count.Open(context.Background(), peer, 1_000_000)
				require.NoError(t, err)
				<-s.C // the call is under way
				go func() {
					for range s.C {
					}
					inFlight <- s.Err()
				}()
				if c.exit {
					_, err = exit.Call(ctx, ref, 3)
					return err
				}
				ref.Cancel()
				return nil
			})
			var ee *actor.ExitError
			require.Equal(t, c.exit, errors.As(err, &ee), "%v", err)
			check := func(err error) {
				t.Helper()
				var gone *actor.ActorGoneError
				require.ErrorAs(t, err, &gone)
				require.ErrorIs(t, err, actor.ErrNotFound)
				require.Equal(t, name, gone.Name)
				require.Equal(t, peer.ID(), gone.Actor.ID)
				if c.exit {
					require.ErrorAs(t, err, &ee)
					require.Equal(t, 3, ee.Code)
				} else {
					require.Nil(t, gone.Exit)
				}
			}
			check(<-inFlight)
			_, err = square.Call(ctx, peer, 2)
			check(err)

			// A new registrant under the name is not reached through the
			// old Ref.
			inNursery(t, 20*time.Second, func(ctx context.Context, n *nursery.Nursery) {
				ref, err := actor.Spawn(ctx, n, name+"-2")
				require.NoError(t, err)
				_, err = registerIn(ctx, ref, name, false)
				require.NoError(t, err)
				_, err = square.Call(ctx, peer, 2)
				check(err)
				fresh, err := actor.Find(ctx, name)
				require.NoError(t, err)
				require.Equal(t, ref.ID(), fresh.ID())
				got, err := square.Call(ctx, fresh, 3)
				require.NoError(t, err)
				require.Equal(t, 9, got)
			})
		})
	}
}

func TestNamesWaitHonoursCtx(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		f := grow(ctx, t, n, []string{"a", "a1"})
		name := f.name("never")
		// In the root, on the registrar itself.
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := actor.Wait(wctx, name)
			done <- err
		}()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		// Two levels down, along the links.
		_, err := f.at(ctx, "a1", nmOp{Kind: "wait", Name: name, Timeout: 50 * time.Millisecond})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		leftNothing(ctx, t, f, name, "a")
	})
}

func TestNamesPeerRefIsNotOwned(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		ref, err := actor.Spawn(ctx, n, nmPrefix()+"-unowned")
		require.NoError(t, err)
		_, err = registerIn(ctx, ref, ref.Name(), false)
		require.NoError(t, err)
		peer, err := actor.Find(ctx, ref.Name())
		require.NoError(t, err)
		for _, op := range []struct {
			name string
			do   func()
		}{{"Cancel", peer.Cancel}, {"Kill", peer.Kill}} {
			func() {
				defer func() {
					v := recover()
					err, ok := v.(error)
					require.True(t, ok, "%s panics with an error, not %v", op.name, v)
					require.ErrorIs(t, err, actor.ErrNotOwner, op.name)
					require.ErrorContains(t, err, op.name)
				}()
				op.do()
			}()
		}
		got, err := square.Call(ctx, peer, 6)
		require.NoError(t, err, "the actor is untouched")
		require.Equal(t, 36, got)
	})
}

func TestNamesRegistrationClose(t *testing.T) {
	proctest.NoChildrenLeft(t)
	for _, registrant := range []string{"root", "a", "a1"} {
		t.Run(registrant, func(t *testing.T) {
			inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
				f := grow(ctx, t, n, []string{"a", "a1"})
				name := f.name("closing")
				reg, err := f.at(ctx, registrant, nmOp{Kind: "register", Name: name})
				require.NoError(t, err)
				events := watchFrom(ctx, name)
				require.Equal(t, reg.Rev, nextEvent(t, events).Revision)
				peer, err := actor.Find(ctx, name)
				require.NoError(t, err)
				_, err = square.Call(ctx, peer, 2)
				require.NoError(t, err)

				_, err = f.at(ctx, registrant, nmOp{Kind: "close", Name: name}) // closes it twice
				require.NoError(t, err)
				_, err = actor.Find(ctx, name)
				require.ErrorIs(t, err, actor.ErrNotFound)
				ev := nextEvent(t, events)
				require.Equal(t, actor.Gone, ev.Kind)
				require.NoError(t, ev.Err)
				_, err = square.Call(ctx, peer, 2)
				var gone *actor.ActorGoneError
				require.ErrorAs(t, err, &gone)
				require.Nil(t, gone.Exit)
				require.ErrorContains(t, err, "Find the name again")
				// The actor can register the name again, with a new revision.
				again, err := f.at(ctx, registrant, nmOp{Kind: "register", Name: name})
				require.NoError(t, err)
				require.Greater(t, again.Rev, reg.Rev)
				_, err = f.at(ctx, registrant, nmOp{Kind: "close", Name: name})
				require.NoError(t, err)
			})
		})
	}
}

func TestNamesMisuse(t *testing.T) {
	var nilCtx context.Context
	ctx := context.Background()
	long := strings.Repeat("x", 129)
	cases := []struct {
		name string
		err  func() error
		want string
	}{
		{"Register empty", func() error { _, err := actor.Register(ctx, ""); return err }, "empty name"},
		{"Register long", func() error { _, err := actor.Register(ctx, long); return err }, "over the limit"},
		{"Register control", func() error { _, err := actor.Register(ctx, "a\nb"); return err }, "printable"},
		{"Register nil ctx", func() error { _, err := actor.Register(nilCtx, "x"); return err }, "nil ctx"},
		{"Find empty", func() error { _, err := actor.Find(ctx, ""); return err }, "empty name"},
		{"Find long", func() error { _, err := actor.Find(ctx, long); return err }, "over the limit"},
		{"Find nil ctx", func() error { _, err := actor.Find(nilCtx, "x"); return err }, "nil ctx"},
		{"FindAll nil ctx", func() error { _, err := actor.FindAll(nilCtx, "x"); return err }, "nil ctx"},
		{"Wait empty", func() error { _, err := actor.Wait(ctx, ""); return err }, "empty name"},
		{"Wait nil ctx", func() error { _, err := actor.Wait(nilCtx, "x"); return err }, "nil ctx"},
		{"Watch empty", func() error { return watchErr(ctx, "") }, "empty name"},
		{"Watch nil ctx", func() error { return watchErr(nilCtx, "x") }, "nil ctx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			require.ErrorContains(t, err, c.want)
			require.True(t, strings.HasPrefix(err.Error(), "actor: "), err.Error())
		})
	}
	t.Run("twice in one actor", func(t *testing.T) {
		name := nmPrefix() + "-twice"
		reg, err := actor.Register(ctx, name)
		require.NoError(t, err)
		defer reg.Close(ctx)
		_, err = actor.Register(ctx, name)
		require.ErrorIs(t, err, actor.ErrNameTaken)
		require.ErrorContains(t, err, "Close it first")
		require.ErrorContains(t, reg.Close(nilCtx), "nil ctx")
	})
}

// watchErr is the first error a watch yields.
func watchErr(ctx context.Context, name string) error {
	for _, err := range actor.Watch(ctx, name) {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestNamesRegisterFromAPeersCall(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		f := grow(ctx, t, n, []string{"a"}, []string{"b", "b1"})
		first := f.name("first")
		_, err := f.at(ctx, "a", nmOp{Kind: "register", Name: first})
		require.NoError(t, err)
		peer, err := actor.Find(ctx, first)
		require.NoError(t, err)
		second := f.name("second")
		_, err = nmRegisterHere.Call(ctx, peer, second)
		require.NoError(t, err, "a peer's call registers its host")
		got, err := actor.Find(ctx, second)
		require.NoError(t, err)
		require.Equal(t, f.node("a"), got.Name())
		// And from inside a stream, two levels down.
		s, err := nmFindInStream.Open(ctx, f.nodes["b"], first)
		require.NoError(t, err)
		require.Equal(t, 25, <-s.C)
		require.NoError(t, s.Err())
	})
}

func TestNamesWatchCancelledMidStream(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		f := grow(ctx, t, n, []string{"a", "a1"})
		name := f.name("watched")
		for range 20 {
			wctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				_, err := f.at(wctx, "a1", nmOp{Kind: "watch", Name: name, Events: 100})
				done <- err
			}()
			cancel()
			require.Error(t, <-done)
		}
		// The watches at a1 break after their first event.
		_, err := f.at(ctx, "root", nmOp{Kind: "register", Name: name})
		require.NoError(t, err)
		for range 20 {
			got, err := f.at(ctx, "a1", nmOp{Kind: "watch", Name: name, Events: 1})
			require.NoError(t, err)
			require.Len(t, got.Events, 1)
		}
		_, err = f.at(ctx, "root", nmOp{Kind: "close", Name: name})
		require.NoError(t, err)
		leftNothing(ctx, t, f, name, "root")
	})
}

func TestNamesFindReusesTheConnection(t *testing.T) {
	if _, err := os.ReadDir("/proc/self/fd"); runtime.GOOS != "linux" || err != nil {
		t.Skip("needs Linux's /proc/self/fd to count descriptors")
	}
	proctest.NoChildrenLeft(t)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(ents)
	}
	inNursery(t, 30*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		ref, err := actor.Spawn(ctx, n, nmPrefix()+"-popular")
		require.NoError(t, err)
		name := ref.Name()
		_, err = registerIn(ctx, ref, name, false)
		require.NoError(t, err)
		peer, err := actor.Find(ctx, name) // the one connection
		require.NoError(t, err)
		_, err = square.Call(ctx, peer, 1)
		require.NoError(t, err)
		before := fds()
		for i := range 200 {
			peer, err := actor.Find(ctx, name)
			require.NoError(t, err)
			got, err := square.Call(ctx, peer, i)
			require.NoError(t, err)
			require.Equal(t, i*i, got)
		}
		require.LessOrEqual(t, fds(), before+2, "200 Finds reuse one connection")
	})
}

// A Register while the actor's last other registration closes keeps the
// socket its peers dial open.
func TestNamesRegisterWhileTheLastOtherCloses(t *testing.T) {
	proctest.NoChildrenLeft(t)
	inNursery(t, 60*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		f := grow(ctx, t, n, []string{"a"})
		x, y := f.name("x"), f.name("y")
		for i := range 100 {
			rx, err := actor.Register(ctx, x, nmExposed)
			require.NoError(t, err)
			var wg sync.WaitGroup
			wg.Go(func() { require.NoError(t, rx.Close(ctx)) })
			ry, err := actor.Register(ctx, y, nmExposed)
			require.NoError(t, err)
			wg.Wait()
			got, err := f.at(ctx, "a", nmOp{Kind: "find", Name: y})
			require.NoError(t, err, "round %d", i)
			require.Equal(t, "root", got.Actor)
			require.NoError(t, ry.Close(ctx))
		}
	})
}
