package actor

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
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
	unregister(ctx context.Context, rev uint64) error
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

// maxDropped bounds how many ended actors the registrar remembers, to
// refuse the registrations of theirs that arrive after their drop.
const maxDropped = 4096

// The registrar is the root process's: the one map of the tree's names.
// It is process-wide because the root process is the registrar.
var (
	theRegistrar     *registrar
	theRegistrarOnce sync.Once
)

func rootRegistrar() *registrar {
	theRegistrarOnce.Do(func() {
		theRegistrar = &registrar{names: map[string]*nameSet{}, live: map[uint64]*liveEntry{}, ended: map[uint64]*transport.ErrorInfo{}}
		_, _ = rand.Read(theRegistrar.key[:])
	})
	return theRegistrar
}

// A registrar holds the names of a tree, in its root process.
type registrar struct {
	key [32]byte

	mu    sync.Mutex
	seq   uint64
	names map[string]*nameSet
	live  map[uint64]*liveEntry
	ended map[uint64]*transport.ErrorInfo // why, for the last maxEnded removed
	order []uint64                        // the keys of ended, oldest first
	// dropped are the last maxDropped actors whose subtree was dropped,
	// oldest first in droppedOrder: a registration on its way up through a
	// parent can reach the root after the drop that its actor's death
	// sent along another call, and must not outlive it.
	dropped      map[string]bool
	droppedOrder []string
}

// A nameSet is the registrations of one name, and the channel closed (and
// replaced) at each change, which waiters and watchers wait on. It lives
// while anyone lives under the name or waits on it: a set forgotten under
// a waiter would leave it waiting on a channel nobody closes.
type nameSet struct {
	entries []*liveEntry // in the order they registered
	changed chan struct{}
	waiters int // the Waits and Watches on it
}

type liveEntry struct {
	nameEntry
	removed chan struct{} // closed once it is gone
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

// touch wakes whoever waits on s. r.mu is held.
func (r *registrar) touch(name string, s *nameSet) {
	close(s.changed)
	s.changed = make(chan struct{})
	r.forget(name, s)
}

func (r *registrar) register(_ context.Context, e nameEntry) (nameEntry, error) {
	if n := len(e.Path); n > 0 && e.Path[n-1] != e.Actor.ID {
		return nameEntry{}, fmt.Errorf("actor: registrar: %s claims a registration made on behalf of %s", e.Actor, e.Path[n-1])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range e.Path {
		if r.dropped[id] {
			return nameEntry{}, fmt.Errorf("%w: actor: registrar: %s registered %q after the end of %s, whose names were dropped",
				errEnded, e.Actor, e.Name, id)
		}
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
	le := &liveEntry{nameEntry: e, removed: make(chan struct{})}
	s.entries = append(s.entries, le)
	r.live[e.Rev] = le
	r.touch(e.Name, s)
	return e, nil
}

func (r *registrar) unregister(_ context.Context, rev uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if le := r.live[rev]; le != nil {
		r.remove(le, nil)
	}
	return nil
}

// remove takes le out of the registry. r.mu is held.
func (r *registrar) remove(le *liveEntry, why *transport.ErrorInfo) {
	delete(r.live, le.Rev)
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
	r.mu.Lock()
	defer r.mu.Unlock()
	if id := path[len(path)-1]; !r.dropped[id] {
		if r.dropped == nil {
			r.dropped = map[string]bool{}
		}
		if len(r.droppedOrder) == maxDropped {
			delete(r.dropped, r.droppedOrder[0])
			r.droppedOrder = r.droppedOrder[1:]
		}
		r.dropped[id] = true
		r.droppedOrder = append(r.droppedOrder, id)
	}
	for _, le := range r.live {
		if len(le.Path) >= len(path) && slices.Equal(le.Path[:len(path)], path) {
			w := why
			if len(le.Path) != len(path) {
				w = nil // an actor further down: its own parent died, not it
			}
			r.remove(le, w)
		}
	}
	return nil
}

// entries copies the live entries of s, and the channel of its next
// change. r.mu is held.
func (s *nameSet) copyEntries() ([]nameEntry, <-chan struct{}) {
	out := make([]nameEntry, len(s.entries))
	for i, le := range s.entries {
		out[i] = le.nameEntry
	}
	return out, s.changed
}

func (r *registrar) lookup(_ context.Context, name string) ([]nameEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.names[name]
	if s == nil {
		return nil, nil
	}
	out, _ := s.copyEntries()
	return out, nil
}

// follow calls fn with the entries of name and the channel of their next
// change, until fn returns false; meanwhile the set stays, so that the
// change that fn waits for closes the channel it holds.
func (r *registrar) follow(name string, fn func([]nameEntry, <-chan struct{}) bool) {
	r.mu.Lock()
	s := r.set(name)
	s.waiters++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		s.waiters--
		r.forget(name, s)
		r.mu.Unlock()
	}()
	for {
		r.mu.Lock()
		out, changed := s.copyEntries()
		r.mu.Unlock()
		if !fn(out, changed) {
			return
		}
	}
}

func (r *registrar) wait(ctx context.Context, name string) (found []nameEntry, err error) {
	r.follow(name, func(out []nameEntry, changed <-chan struct{}) bool {
		if len(out) > 0 {
			found = out
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
	var seen []nameEntry
	r.follow(name, func(now []nameEntry, changed <-chan struct{}) bool {
		for _, e := range seen {
			if !slices.ContainsFunc(now, func(n nameEntry) bool { return n.Rev == e.Rev }) {
				r.mu.Lock()
				why := r.ended[e.Rev]
				r.mu.Unlock()
				if !fn(nameChange{Kind: Gone, Entry: e, Why: why}) {
					return false
				}
			}
		}
		for _, e := range now {
			if !slices.ContainsFunc(seen, func(s nameEntry) bool { return s.Rev == e.Rev }) {
				if !fn(nameChange{Kind: Registered, Entry: e}) {
					return false
				}
			}
		}
		seen = now
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
