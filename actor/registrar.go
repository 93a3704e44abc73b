package actor

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/grove-rt/grove/transport"
)

// A nameEntry is one registration as the registrar holds it, and as it
// crosses the tree.
type nameEntry struct {
	Name  string
	Actor transport.ActorID
	// Path is the ids of the actors from the root's child down to the
	// registrant, each added by the parent the registration passed
	// through (so no actor can claim a place in another's subtree); empty
	// for the root process's own registrations.
	Path []string
	// Addr is where peers in other processes dial the registrant (its
	// private Unix socket); empty where there are no sockets.
	Addr   string
	Expose []string
	Unique bool
	// Rev is given by the registrar: unique in the tree, and greater than
	// every one before.
	Rev uint64
}

// A nameChange is what a watch reports.
type nameChange struct {
	Kind  NameEventKind
	Entry nameEntry
	Why   *transport.ErrorInfo // for Gone: the actor's death, if known
}

// A nameRegistry is where an actor's names live: the root's registrar, or
// the link to the parent that leads there. A replicated registry (the
// cluster's) implements it too; nothing here knows of a network.
type nameRegistry interface {
	register(ctx context.Context, e nameEntry) (nameEntry, error)
	// unregister removes the registration rev, if it lives in the
	// subtree at path (each parent on the way prefixes its child's id; the
	// root process's own calls, with an empty path, may remove any).
	unregister(ctx context.Context, path []string, rev uint64) error
	lookup(ctx context.Context, name string) ([]nameEntry, error)
	// wait is lookup that blocks until the answer is not empty.
	wait(ctx context.Context, name string) ([]nameEntry, error)
	// watch calls fn with the entries under name, then with each change,
	// until fn returns false, ctx ends, or the registry fails.
	watch(ctx context.Context, name string, fn func(nameChange) bool) error
	// drop removes every entry of the subtree at path (an actor ended),
	// why being its death if it died.
	drop(ctx context.Context, path []string, why *transport.ErrorInfo) error
	// gone waits until the registration rev has been removed, and says
	// why its actor ended if it died.
	gone(ctx context.Context, rev uint64) (*transport.ErrorInfo, error)
	// secret is the tree's secret, which peers' connections prove.
	secret(ctx context.Context) ([]byte, error)
}

// maxEnded bounds how many removed registrations the registrar remembers
// the end of, for peers that ask why their peer went (gone).
const maxEnded = 1024

// maxDropped and maxDroppedBytes bound how many ended subtrees the
// registrar remembers, to refuse the registrations of theirs that arrive
// after their drop.
const (
	maxDropped      = 4096
	maxDroppedBytes = 1 << 20
)

// The bounds of what an actor may make the registrar hold: the registrar
// refuses anything beyond them (each parent on the way checks too), so
// that no actor, however hostile, gets it to hold unbounded memory.
const (
	maxPerActor = 1024 // live registrations of one actor
	maxDepth    = 64   // actors on a registration's path: the tree's depth
	maxIDLen    = 64   // bytes of an actor id on a path
	maxExpose   = 256  // functions a registration exposes
	maxFuncName = 256  // bytes of one of them
	maxAddr     = 256  // bytes of the registrant's address
)

// The registrar is the root process's: the one map of the tree's names.
// It is process-wide because the root process is the registrar.
var (
	theRegistrar     *registrar
	theRegistrarOnce sync.Once
)

func rootRegistrar() *registrar {
	theRegistrarOnce.Do(func() {
		theRegistrar = newRegistrar()
		_, _ = rand.Read(theRegistrar.key[:])
	})
	return theRegistrar
}

func newRegistrar() *registrar {
	return &registrar{names: map[string]*nameSet{}, live: map[uint64]*liveEntry{}, ended: map[uint64]*transport.ErrorInfo{},
		perActor: map[string]int{}, dropped: map[string]bool{}}
}

// A registrar holds the names of a tree, in its root process.
type registrar struct {
	key [32]byte

	mu    sync.Mutex
	seq   uint64
	names map[string]*nameSet
	// moved, if set (by the tests only), is called with mu held whenever
	// the Waits and Watches of a name begin or end: the tests wait on it
	// instead of polling the counts.
	moved func()
	live  map[uint64]*liveEntry
	ended map[uint64]*transport.ErrorInfo // why, for the last maxEnded removed
	order []uint64                        // the keys of ended, oldest first
	// dropped are the paths of the last subtrees dropped (at most
	// maxDropped of them, of maxDroppedBytes in all), oldest first in
	// droppedOrder, as pathKey makes them: a registration on its way up
	// through a parent can reach the root after the drop that its actor's
	// death sent along another call, and must not outlive it. Whole paths,
	// since a drop can come only from within the subtree it names.
	dropped      map[string]bool
	droppedOrder []string
	droppedBytes int
	perActor     map[string]int // live registrations by actor id
}

// pathKey is the key of a path in dropped.
func pathKey(path []string) string { return strings.Join(path, "\x00") }

// checkPath refuses a path no parent could have built.
func checkPath(path []string) error {
	if len(path) > maxDepth {
		return fmt.Errorf("actor: registrar: a path of %d actors, over the tree's depth limit of %d", len(path), maxDepth)
	}
	for _, id := range path {
		if id == "" || len(id) > maxIDLen || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return fmt.Errorf("actor: registrar: %.80q is no actor id", id)
		}
	}
	return nil
}

// checkEntry refuses a registration that Register would not have sent, or
// beyond the registrar's bounds: the registrar and every parent on the way
// check it, whatever the registrant claims to have checked.
func checkEntry(e nameEntry) error {
	if err := checkName("Register", e.Name); err != nil {
		return err
	}
	if err := checkPath(e.Path); err != nil {
		return err
	}
	if len(e.Addr) > maxAddr {
		return fmt.Errorf("actor: Register %q: an address of %d bytes, over the limit of %d", e.Name, len(e.Addr), maxAddr)
	}
	if len(e.Expose) > maxExpose {
		return fmt.Errorf("actor: Register %q: %d functions exposed, over the limit of %d: expose fewer", e.Name, len(e.Expose), maxExpose)
	}
	for _, fn := range e.Expose {
		switch {
		case len(fn) > maxFuncName:
			return fmt.Errorf("actor: Register %q: a function name of %d bytes exposed, over the limit of %d", e.Name, len(fn), maxFuncName)
		case reserved(fn):
			return fmt.Errorf("actor: Register %q: %s is one of grove's reserved functions, which peers may never call: "+
				"expose your own functions only", e.Name, fn)
		}
	}
	return nil
}

// A nameSet is the registrations of one name, and the channel closed (and
// replaced) at each change, which waiters and watchers wait on. It lives
// while anyone lives under the name or waits on it: a set forgotten under
// a waiter would leave it waiting on a channel nobody closes.
type nameSet struct {
	entries []*liveEntry // in the order they registered
	// view is what finders see of entries, in the same order: made anew
	// at each change and never modified, so that waiters and watchers take
	// it without copying it under the registrar's lock.
	view    []nameEntry
	changed chan struct{}
	waiters int // the Waits and Watches on it
}

type liveEntry struct {
	nameEntry
	view    nameEntry     // what finders see of it ([nameEntry.finders])
	removed chan struct{} // closed once it is gone
}

// finders is what lookup, wait and watch answer of e: what a finder needs
// to reach the registrant, not the path, nor the exposed functions.
func (e nameEntry) finders() nameEntry {
	return nameEntry{Name: e.Name, Actor: e.Actor, Addr: e.Addr, Unique: e.Unique, Rev: e.Rev}
}

// set returns the set of name, made on first use. r.mu is held.
func (r *registrar) set(name string) *nameSet {
	s := r.names[name]
	if s == nil {
		s = &nameSet{changed: make(chan struct{})}
		r.names[name] = s
	}
	return s
}

// forget drops s if nobody lives under it or waits on it. r.mu is held.
func (r *registrar) forget(name string, s *nameSet) {
	if len(s.entries) == 0 && s.waiters == 0 {
		delete(r.names, name)
	}
}

// touch makes the new view of s and wakes whoever waits on it. r.mu is
// held.
func (r *registrar) touch(name string, s *nameSet) {
	s.view = make([]nameEntry, len(s.entries))
	for i, le := range s.entries {
		s.view[i] = le.view
	}
	close(s.changed)
	s.changed = make(chan struct{})
	r.forget(name, s)
}

func (r *registrar) register(_ context.Context, e nameEntry) (nameEntry, error) {
	if err := checkEntry(e); err != nil {
		return nameEntry{}, err
	}
	if n := len(e.Path); n > 0 && e.Path[n-1] != e.Actor.ID {
		return nameEntry{}, fmt.Errorf("actor: registrar: %s claims a registration made on behalf of %s", e.Actor, e.Path[n-1])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range e.Path {
		if r.dropped[pathKey(e.Path[:i+1])] {
			return nameEntry{}, fmt.Errorf("%w: actor: registrar: %s registered %q after the end of %s, whose names were dropped",
				errEnded, e.Actor, e.Name, e.Path[i])
		}
	}
	if r.perActor[e.Actor.ID] >= maxPerActor {
		return nameEntry{}, fmt.Errorf("actor: Register %q: %s holds %d registrations already, the limit: Close those it no longer needs",
			e.Name, e.Actor, maxPerActor)
	}
	s := r.set(e.Name)
	for _, o := range s.entries {
		switch {
		case o.Actor.ID == e.Actor.ID:
			return nameEntry{}, fmt.Errorf("%w: %q is registered by this actor (%s) already, with revision %d: "+
				"keep that Registration, or Close it first", ErrNameTaken, e.Name, e.Actor, o.Rev)
		case o.Unique:
			return nameEntry{}, fmt.Errorf("%w: %q is held exclusively by %s (revision %d)", ErrNameTaken, e.Name, o.Actor, o.Rev)
		case e.Unique:
			return nameEntry{}, fmt.Errorf("%w: %q cannot be made exclusive while %s lives under it (revision %d)",
				ErrNameTaken, e.Name, o.Actor, o.Rev)
		}
	}
	r.seq++
	e.Rev = r.seq
	le := &liveEntry{nameEntry: e, view: e.finders(), removed: make(chan struct{})}
	s.entries = append(s.entries, le)
	r.live[e.Rev] = le
	r.perActor[e.Actor.ID]++
	r.touch(e.Name, s)
	return e, nil
}

func (r *registrar) unregister(_ context.Context, path []string, rev uint64) error {
	if err := checkPath(path); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if le := r.live[rev]; le != nil && hasPrefix(le.Path, path) {
		r.remove(le, nil)
	}
	return nil
}

// hasPrefix reports whether path lies in the subtree at prefix.
func hasPrefix(path, prefix []string) bool {
	return len(path) >= len(prefix) && slices.Equal(path[:len(prefix)], prefix)
}

// remove takes le out of the registry. r.mu is held.
func (r *registrar) remove(le *liveEntry, why *transport.ErrorInfo) {
	delete(r.live, le.Rev)
	if r.perActor[le.Actor.ID]--; r.perActor[le.Actor.ID] <= 0 {
		delete(r.perActor, le.Actor.ID)
	}
	s := r.names[le.Name]
	s.entries = slices.DeleteFunc(s.entries, func(o *liveEntry) bool { return o == le })
	r.touch(le.Name, s)
	if len(r.order) == maxEnded {
		delete(r.ended, r.order[0])
		r.order = r.order[1:]
	}
	r.ended[le.Rev] = why
	r.order = append(r.order, le.Rev)
	close(le.removed)
}

func (r *registrar) drop(_ context.Context, path []string, why *transport.ErrorInfo) error {
	if len(path) == 0 {
		return nil
	}
	if err := checkPath(path); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if key := pathKey(path); !r.dropped[key] {
		for len(r.droppedOrder) > 0 && (len(r.droppedOrder) >= maxDropped || r.droppedBytes+len(key) > maxDroppedBytes) {
			old := r.droppedOrder[0]
			delete(r.dropped, old)
			r.droppedBytes -= len(old)
			r.droppedOrder = r.droppedOrder[1:]
		}
		r.dropped[key] = true
		r.droppedBytes += len(key)
		r.droppedOrder = append(r.droppedOrder, key)
	}
	for _, le := range r.live {
		if hasPrefix(le.Path, path) {
			w := why
			if len(le.Path) != len(path) {
				w = nil // an actor further down: its own parent died, not it
			}
			r.remove(le, w)
		}
	}
	return nil
}

func (r *registrar) lookup(_ context.Context, name string) ([]nameEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.names[name]
	if s == nil {
		return nil, nil
	}
	return slices.Clone(s.view), nil
}

// waitersMoved tells the tests' hook, if any, that a name's waiters
// changed. r.mu is held.
func (r *registrar) waitersMoved() {
	if r.moved != nil {
		r.moved()
	}
}

// follow calls fn with the view of name (which fn must not modify) and the
// channel of its next change, until fn returns false; meanwhile the set
// stays, so that the change that fn waits for closes the channel it holds.
func (r *registrar) follow(name string, fn func([]nameEntry, <-chan struct{}) bool) {
	r.mu.Lock()
	s := r.set(name)
	s.waiters++
	r.waitersMoved()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		s.waiters--
		r.forget(name, s)
		r.waitersMoved()
		r.mu.Unlock()
	}()
	for {
		r.mu.Lock()
		out, changed := s.view, s.changed
		r.mu.Unlock()
		if !fn(out, changed) {
			return
		}
	}
}

func (r *registrar) wait(ctx context.Context, name string) (found []nameEntry, err error) {
	r.follow(name, func(out []nameEntry, changed <-chan struct{}) bool {
		if len(out) > 0 {
			found = slices.Clone(out)
			return false
		}
		select {
		case <-changed:
			return true
		case <-ctx.Done():
			err = context.Cause(ctx)
			return false
		}
	})
	return found, err
}

func (r *registrar) watch(ctx context.Context, name string, fn func(nameChange) bool) (err error) {
	// seen is what the watcher has been told lives: as much as the name
	// holds, what finders see of it. Each change costs a pass over the
	// name's view, not a pass per entry.
	seen := map[uint64]nameEntry{}
	var now map[uint64]bool
	var gone []uint64
	r.follow(name, func(view []nameEntry, changed <-chan struct{}) bool {
		clear(now)
		if now == nil {
			now = make(map[uint64]bool, len(view))
		}
		for _, e := range view {
			now[e.Rev] = true
		}
		gone = gone[:0]
		for rev := range seen {
			if !now[rev] {
				gone = append(gone, rev)
			}
		}
		slices.Sort(gone) // in the order they registered
		for _, rev := range gone {
			e := seen[rev]
			delete(seen, rev)
			r.mu.Lock()
			why := r.ended[rev]
			r.mu.Unlock()
			if !fn(nameChange{Kind: Gone, Entry: e, Why: why}) {
				return false
			}
		}
		for _, e := range view {
			if _, ok := seen[e.Rev]; !ok {
				seen[e.Rev] = e
				if !fn(nameChange{Kind: Registered, Entry: e}) {
					return false
				}
			}
		}
		select {
		case <-changed:
			return true
		case <-ctx.Done():
			err = context.Cause(ctx)
			return false
		}
	})
	return err
}

func (r *registrar) gone(ctx context.Context, rev uint64) (*transport.ErrorInfo, error) {
	r.mu.Lock()
	le := r.live[rev]
	r.mu.Unlock()
	if le != nil {
		select {
		case <-le.removed:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended[rev], nil
}

func (r *registrar) secret(context.Context) ([]byte, error) { return r.key[:], nil }
