package actor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grove-rt/grove/internal/rss"
	"github.com/grove-rt/grove/transport"
)

// The reserved functions of the tree view, served by every actor's link
// to its parent (not counted as calls, and answered while it stops too).
// Their argument is a debugArgs; Tree's answer is a TreeInfo, DumpStacks'
// a []stackDump.
const (
	treeFunc   = "grove.tree"
	stacksFunc = "grove.stacks"
)

// debugFunc reports whether fn is a function of the tree view.
func debugFunc(fn string) bool { return fn == treeFunc || fn == stacksFunc }

// DefaultDebugTimeout bounds [Tree] and [DumpStacks] when their ctx has no
// deadline.
const DefaultDebugTimeout = 2 * time.Second

// maxDebugBudget caps the time a parent may give a child to answer.
const maxDebugBudget = time.Minute

// processStart is when this process began, the root's start for Tree.
var processStart = time.Now()

// A State is where an actor is in its life, as [Tree] sees it.
type State uint8

// The states of an actor. An actor is starting from its spawn until its
// handshake completes, serving until its stop begins (a Cancel, its
// nursery's cancel, a Kill, SIGTERM), and stopping until it has ended;
// an ended actor is no longer in the tree.
const (
	StateUnknown State = iota
	StateStarting
	StateServing
	StateStopping
)

// String returns the state's name: "starting", "serving", "stopping" or
// "unknown".
func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateServing:
		return "serving"
	case StateStopping:
		return "stopping"
	}
	return "unknown"
}

// TreeInfo is one actor of a [Tree] snapshot, with the actors it spawned
// in Children, in the order they were spawned.
type TreeInfo struct {
	Name    string
	ID      string
	PID     int    // on its host; a goroutine actor's is its process's
	Host    string // "" for an actor of this host
	Parent  string // the ID of the actor that spawned it: "" for the root process
	Backend Backend
	State   State
	// Calls counts the calls in flight on the actor by function name: its
	// parent's and its peers' ([Find]); the tree view's own are not counted.
	Calls  map[string]int
	Uptime time.Duration
	// RSS is the resident set size of the actor's process in bytes, on
	// Linux; 0 elsewhere (unknown) and for a goroutine actor, which shares
	// its process's (the row of the process above it).
	RSS int64
	// Err says why the actor did not answer in time (it is hung, stopped,
	// dead, or still starting): then only what its parent knows is filled
	// in (Name, ID, PID, Host, Parent, Backend, State), and its children
	// are unknown.
	Err      string
	Children []TreeInfo
}

// Tree returns a snapshot of the actor tree from the caller down: the
// actor whose call ctx is passed, or, outside any call, this process, and
// every actor it spawned, recursively. Each actor answers for itself and
// its children over the link to its parent (a reserved call, grove.tree);
// the children of one actor are asked at once. An actor that does not
// answer in time appears with Err set, and never holds up the snapshot:
// ctx bounds the whole (DefaultDebugTimeout when ctx has no deadline), and
// each level gives the next three quarters of what it has left, so that a
// parent hears its child's partial answer before it gives up on it. It
// costs a round trip per level and a goroutine per child while it asks;
// the actors' calls are not held up. Only a nil ctx is an error.
func Tree(ctx context.Context) (TreeInfo, error) {
	if ctx == nil {
		return TreeInfo{}, errors.New("actor: Tree: nil ctx: pass a ctx (or context.Background())")
	}
	ctx, cancel := debugBound(ctx)
	defer cancel()
	sv := serverFor(ctx)
	info := sv.tree(ctx)
	info.Parent = sv.parentID(ctx)
	return info, nil
}

// parentID returns the ID of the actor at the other end of sv's link to
// its parent: "" for the root process, which has none. An actor's call can
// run before its server has recorded the link it came on, so it waits for
// the link, bounded by ctx and by the server's end.
func (sv *server) parentID(ctx context.Context) string {
	if sv.top && !startedAsActor {
		return ""
	}
	select {
	case <-sv.linked:
	case <-sv.root.Done():
	case <-ctx.Done():
	}
	if c := sv.link.Load(); c != nil {
		return c.Peer().Actor.ID
	}
	return ""
}

// debugBound bounds ctx by DefaultDebugTimeout if it has no deadline.
func debugBound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultDebugTimeout)
}

// debugArgs are the arguments of the tree view's reserved calls.
type debugArgs struct {
	Budget time.Duration // the time the callee has to answer
	PID    int           // the caller's pid: a callee of the same process takes no stack dump
	// Bytes bounds the Stacks of grove.stacks' answer, the callee's and its
	// subtree's: 0 (a caller that sends none) is maxDumpAnswer, -1 none.
	Bytes int
}

// childArgs are the arguments for this server's children, of ctx's time.
func (sv *server) childArgs(ctx context.Context) debugArgs {
	d, _ := ctx.Deadline()
	return debugArgs{Budget: time.Until(d) * 3 / 4, PID: sv.id.PID}
}

// debugContext is the ctx of a tree-view call served for a parent: its
// budget, and the caller's cancel, but not the actor's stop, so that a
// stopping actor still reports its children.
func (sv *server) debugContext(ctx context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(max(budget, 0), maxDebugBudget))
	stop := context.AfterFunc(ctx, func() {
		if sv.root.Err() == nil { // the caller's Cancel, not the stop
			cancel()
		}
	})
	return dctx, func() { stop(); cancel() }
}

func init() {
	serveDebug(treeFunc, func(ctx context.Context, sv *server, _ debugArgs) any { return sv.tree(ctx) })
	serveDebug(stacksFunc, func(ctx context.Context, sv *server, a debugArgs) any {
		return sv.stacks(ctx, a.PID == sv.id.PID, dumpBudget(a))
	})
}

// serveDebug registers the reserved function name of the tree view, whose
// answer is answer's, under the ctx of debugContext.
func serveDebug(name string, answer func(context.Context, *server, debugArgs) any) {
	register(name, func(ctx context.Context, s *transport.Stream) (any, error) {
		a, err := decodeArgs[debugArgs](name, s)
		if err != nil {
			return nil, err
		}
		sv := serverFor(ctx)
		ctx, cancel := sv.debugContext(ctx, a.Budget)
		defer cancel()
		return answer(ctx, sv, a), nil
	})
}

// tree is the server's actor and its subtree.
func (sv *server) tree(ctx context.Context) TreeInfo {
	me := sv.info()
	ks := sv.kids.list()
	if len(ks) == 0 {
		return me
	}
	me.Children = make([]TreeInfo, len(ks))
	args := sv.childArgs(ctx)
	var wg sync.WaitGroup
	for i, k := range ks {
		wg.Go(func() { me.Children[i] = k.tree(ctx, args, me.ID) })
	}
	wg.Wait()
	return me
}

// info is what the server knows of its own actor.
func (sv *server) info() TreeInfo {
	sv.mu.Lock()
	calls := maps.Clone(sv.byFunc)
	stopping := sv.closed
	sv.mu.Unlock()
	if len(calls) == 0 {
		calls = nil
	}
	state := StateServing
	if stopping || sv.root.Err() != nil {
		state = StateStopping
	}
	info := TreeInfo{Name: sv.id.Name, ID: sv.id.ID, PID: sv.id.PID, Host: sv.id.Host, Backend: sv.backend,
		State: state, Calls: calls, Uptime: time.Since(sv.started)}
	if sv.backend != BackendGoroutine {
		info.RSS = rss.Of(info.PID)
	}
	return info
}

// kids are the actors spawned from a server's code, from the start of
// their spawn to the end of their task: what Tree and DumpStacks walk.
type kids struct {
	mu   sync.Mutex
	next uint64
	set  map[*kid]struct{}
}

// A kid is one actor of kids: its Ref is set once its spawn succeeded.
type kid struct {
	seq   uint64
	name  string
	added time.Time
	ref   atomic.Pointer[Ref]
}

func (ks *kids) add(name string) *kid {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.set == nil {
		ks.set = map[*kid]struct{}{}
	}
	ks.next++
	k := &kid{seq: ks.next, name: name, added: time.Now()}
	ks.set[k] = struct{}{}
	return k
}

func (ks *kids) remove(k *kid) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	delete(ks.set, k)
}

// list returns the kids in the order of their spawns.
func (ks *kids) list() []*kid {
	ks.mu.Lock()
	out := slices.Collect(maps.Keys(ks.set))
	ks.mu.Unlock()
	slices.SortFunc(out, func(a, b *kid) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// tree asks the kid for its subtree, or says what its parent knows of it.
func (k *kid) tree(ctx context.Context, args debugArgs, parent string) TreeInfo {
	r := k.ref.Load()
	if r == nil {
		return TreeInfo{Name: k.name, Parent: parent, State: StateStarting, Uptime: time.Since(k.added),
			Err: "actor: it is still starting (its handshake has not completed)"}
	}
	known := r.known(parent)
	info, err := callDebug[TreeInfo](ctx, r, treeFunc, args)
	if err != nil {
		known.Err = noAnswer(r, err)
		return known
	}
	info.Parent, info.Backend = parent, known.Backend
	if known.Host != "" {
		info.Host = known.Host
	}
	if known.State == StateStopping {
		info.State = StateStopping
	}
	return info
}

// noAnswer is the Err of an actor that did not answer a tree-view call.
func noAnswer(r *Ref, err error) string {
	return fmt.Sprintf("actor: %s did not answer: %v", r.id, err)
}

// known is what the parent knows of the actor, without asking it.
func (r *Ref) known(parent string) TreeInfo {
	state := StateServing
	if closed(r.cancel) || closed(r.killReq) || closed(r.ended) {
		state = StateStopping
	}
	host := r.host
	if host == "" {
		host = r.id.Host
	}
	return TreeInfo{Name: r.id.Name, ID: r.id.ID, PID: r.id.PID, Host: host, Parent: parent,
		Backend: r.backend(), State: state}
}

// backend is what the actor runs as.
func (r *Ref) backend() Backend {
	switch r.run.(type) {
	case *goroutineRunner:
		return BackendGoroutine
	case *remoteRunner:
		return BackendRemote
	}
	return BackendProcess
}
