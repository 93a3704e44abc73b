package actor

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"
	"unicode/utf8"

	"github.com/grove-rt/grove/transport"
)

// Errors of discovery by name. Each matches across processes.
var (
	// ErrNotFound is matched when nobody lives under a name (Find), and by
	// every call on a peer Ref whose actor has gone ([*ActorGoneError]).
	ErrNotFound = errors.New("actor: no live actor is registered under the name")
	// ErrNameTaken is matched by a Register of a name a live owner holds
	// exclusively ([Unique]), or that this actor has registered already.
	ErrNameTaken = errors.New("actor: the name is taken")
	// ErrNotExposed is matched by a peer's call of a function that the
	// registration it found did not expose ([Expose]).
	ErrNotExposed = errors.New("actor: the function is not exposed to peers")
	// ErrNotOwner is the panic value (wrapped) of Cancel or Kill on a peer
	// Ref: one found by name, which no nursery of the caller owns.
	ErrNotOwner = errors.New("actor: this Ref was found by name, and only the nursery that spawned the actor may end it")
)

// errUnregistered is the answer of a peer's host to a call through a
// registration it no longer holds (closed, or its actor ending): the peer
// Ref's caller then reports the [*ActorGoneError].
var errUnregistered = fmt.Errorf("%w: the registration was closed", ErrNotFound)

func init() {
	RegisterError("actor.errUnregistered", errUnregistered)
	RegisterError("actor.ErrNotFound", ErrNotFound)
	RegisterError("actor.ErrNameTaken", ErrNameTaken)
	RegisterError("actor.ErrNotExposed", ErrNotExposed)
	RegisterError("actor.ErrNotOwner", ErrNotOwner)
}

// maxName bounds a name, in bytes.
const maxName = 128

// checkName refuses a name that could not be one key of every registry.
func checkName(op, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("actor: %s: an empty name: give the name peers will look for", op)
	case len(name) > maxName:
		return fmt.Errorf("actor: %s: the name %.32q... is %d bytes, over the limit of %d", op, name, len(name), maxName)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("actor: %s: the name %q is not printable UTF-8", op, name)
	}
	return nil
}

// A Named is a declared function: a [*Function], [*StreamFunction] or
// [*DuplexFunction].
type Named interface{ Name() string }

// A RegisterOption configures [Register].
type RegisterOption func(*registerConfig)

type registerConfig struct {
	unique bool
	expose []string
}

// Unique makes a registration exclusive, as Erlang's global names: Register
// fails with an error matching [ErrNameTaken] while a live actor holds the
// name (exclusively or not), and once the owner has gone, the next Register
// wins it with a greater [Registration.Revision].
func Unique() RegisterOption { return func(c *registerConfig) { c.unique = true } }

// Expose lists the functions that peers which find this registration may
// call; by default they may call none. A peer's call of anything else,
// and of grove's reserved functions always, fails with an error matching
// [ErrNotExposed]. Exposing a function also lets peers call it in batches
// ([CallBatch]).
func Expose(fns ...Named) RegisterOption {
	return func(c *registerConfig) {
		for _, f := range fns {
			if f != nil {
				c.expose = append(c.expose, f.Name())
			}
		}
	}
}

// A Registration is a name under which the actor that registered it (or
// the root process) can be found, until it exits or Close is called.
type Registration struct {
	name   string
	entry  nameEntry
	host   *peerHost
	hosted *hosted
	reg    nameRegistry
}

// Name returns the name registered.
func (r *Registration) Name() string { return r.name }

// Revision is the registration's fencing token: every new registration of
// a name in the tree gets a greater one than all before it, so for a
// [Unique] name it grows with every new owner. A service that hands out
// work under a unique name can attach its revision, and a store can refuse
// writes that carry an older one.
func (r *Registration) Revision() uint64 { return r.entry.Rev }

// Close removes the registration: Find no longer returns it, watchers see
// it gone, and the peer Refs found through it fail their calls with an
// [*ActorGoneError]. It waits for the registrar's answer, bounded by ctx,
// and never for the peers' calls in flight (they are cut, and their
// answers fail). Closing twice, or after the actor has ended, does nothing
// and returns nil.
func (r *Registration) Close(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("actor: Registration.Close %q: nil ctx: pass the caller's ctx (or context.Background())", r.name)
	}
	r.host.remove(r.name, r.hosted)
	err := r.reg.unregister(ctx, nil, r.entry.Rev)
	if err != nil && !transport.PeerGone(err) && !errors.Is(err, errLinkGone) {
		return fmt.Errorf("actor: Registration.Close %q: %w", r.name, err)
	}
	return nil
}

// Register makes the calling actor findable under name: the actor whose
// call ctx is (or derives from), or this process if ctx comes from outside
// any actor's call (the root process, or an actor process's own code).
//
// Pass the ctx of the actor's call, never context.Background() from
// inside it: on the goroutine backend (and under WebAssembly) every actor
// lives in the root process, and a ctx from outside any call registers the
// root process, not the actor, so the name outlives the actor. In a
// process started as an actor, Register (and Find, FindAll, Wait, Watch)
// before actor.Main() has taken over fails: call actor.Main() first. The
// registration lasts until that actor exits, however it ends, or Close is
// called; its parent removes it when it sees the exit, before the actor's
// task in the parent's nursery ends, so a name never outlives its owner.
//
// Register asks the tree's registrar, the root process, along the parent
// links: a round trip per level of the tree (tens of microseconds each).
// The first registration of an actor also starts the private Unix socket
// on which its peers reach it directly ([Find]).
func Register(ctx context.Context, name string, opts ...RegisterOption) (*Registration, error) {
	if ctx == nil {
		return nil, fmt.Errorf("actor: Register %q: nil ctx: pass the caller's ctx (or context.Background())", name)
	}
	if err := checkName("Register", name); err != nil {
		return nil, err
	}
	var cfg registerConfig
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkEntry(nameEntry{Name: name, Expose: cfg.expose}); err != nil {
		return nil, err // what the registrar, and each parent on the way, would refuse
	}
	sv := serverFor(ctx)
	reg := sv.names()
	host := &sv.host
	// The name is held first, so that the close of the actor's last other
	// registration meanwhile does not close the socket listen returns.
	pending, err := host.add(name, cfg.expose)
	if err != nil {
		return nil, fmt.Errorf("actor: Register %q: %w", name, err)
	}
	addr, err := host.listen(ctx, reg)
	if err != nil {
		host.remove(name, pending)
		return nil, fmt.Errorf("actor: Register %q: %w", name, err)
	}
	e := nameEntry{Name: name, Actor: sv.id, Addr: addr, Expose: cfg.expose, Unique: cfg.unique}
	got, err := reg.register(ctx, e)
	if err != nil {
		host.remove(name, pending)
		return nil, fmt.Errorf("actor: Register %q: %w", name, err)
	}
	host.confirm(pending, got.Rev)
	return &Registration{name: name, entry: got, host: host, hosted: pending, reg: reg}, nil
}

// Find returns a peer Ref to a live actor registered under name, picked at
// random among them, or an error matching [ErrNotFound]. The Ref supports
// calls, streams and duplex exactly as a child's does, straight to the
// actor over its private socket (not through the tree), but no nursery of
// the caller owns it: Cancel and Kill on it panic with [ErrNotOwner]. When
// the actor goes, the Ref's calls fail with an [*ActorGoneError]; it is
// never re-resolved behind the caller's back (call Find again).
//
// Find costs a round trip to the registrar per level of the tree and, the
// first time this process reaches that registration, a connection and its
// handshake; later Finds of it reuse the connection.
func Find(ctx context.Context, name string) (*Ref, error) {
	if ctx == nil {
		return nil, fmt.Errorf("actor: Find %q: nil ctx: pass the caller's ctx (or context.Background())", name)
	}
	if err := checkName("Find", name); err != nil {
		return nil, err
	}
	reg := serverFor(ctx).names()
	entries, err := reg.lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("actor: Find %q: %w", name, err)
	}
	rand.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	ref, err := dialAny(ctx, reg, entries)
	switch {
	case ref != nil:
		return ref, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("actor: Find %q: %w", name, context.Cause(ctx))
	case err != nil && !dialGone(err):
		return nil, fmt.Errorf("actor: Find %q: %w", name, err)
	}
	return nil, notFound("Find", name, err)
}

// dialAny returns a peer Ref to the first of entries it reaches. When none
// can be reached, the error is a failure that says nothing of whether its
// registrant lives (see [dialGone]) if there was one, else the last.
func dialAny(ctx context.Context, reg nameRegistry, entries []nameEntry) (*Ref, error) {
	var failed, last error
	for _, e := range entries {
		ref, err := dialPeer(ctx, reg, e)
		if err == nil {
			return ref, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		last = err
		if !dialGone(err) && failed == nil {
			failed = fmt.Errorf("%s: %w", e.Actor, err)
		}
	}
	if failed != nil {
		return nil, failed
	}
	return nil, last
}

// notFound is the error of a name nobody lives under.
func notFound(op, name string, last error) error {
	if last != nil {
		return fmt.Errorf("%w: actor: %s %q: every registrant had just gone: %w", ErrNotFound, op, name, last)
	}
	return fmt.Errorf("%w: actor: %s %q: nobody is registered under it (actor.Register it, or actor.Wait for it)",
		ErrNotFound, op, name)
}

// FindAll returns a peer Ref to every live actor registered under name, in
// the order they registered (possibly none, with a nil error). See [Find].
func FindAll(ctx context.Context, name string) ([]*Ref, error) {
	if ctx == nil {
		return nil, fmt.Errorf("actor: FindAll %q: nil ctx: pass the caller's ctx (or context.Background())", name)
	}
	if err := checkName("FindAll", name); err != nil {
		return nil, err
	}
	reg := serverFor(ctx).names()
	entries, err := reg.lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("actor: FindAll %q: %w", name, err)
	}
	refs := make([]*Ref, 0, len(entries))
	for _, e := range entries {
		ref, err := dialPeer(ctx, reg, e)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("actor: FindAll %q: %w", name, context.Cause(ctx))
			}
			if !dialGone(err) {
				return nil, fmt.Errorf("actor: FindAll %q: %s: %w", name, e.Actor, err)
			}
			continue // it has just gone
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// Wait is Find that blocks until someone lives under name (Tractor's
// wait_for_actor), bounded by ctx: it returns ctx's error when ctx ends
// first. It costs one call to the registrar, which answers as soon as
// someone registers.
func Wait(ctx context.Context, name string) (*Ref, error) {
	if ctx == nil {
		return nil, fmt.Errorf("actor: Wait %q: nil ctx: pass the caller's ctx (or context.Background())", name)
	}
	if err := checkName("Wait", name); err != nil {
		return nil, err
	}
	ref, err := waitFor(ctx, serverFor(ctx).names(), name)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("actor: Wait %q: %w", name, context.Cause(ctx))
		}
		return nil, fmt.Errorf("actor: Wait %q: %w", name, err)
	}
	return ref, nil
}

// waitFor is Wait on the registry reg.
func waitFor(ctx context.Context, reg nameRegistry, name string) (*Ref, error) {
	for {
		entries, err := reg.wait(ctx, name)
		if err != nil {
			return nil, err
		}
		ref, err := dialAny(ctx, reg, entries)
		switch {
		case ref != nil:
			return ref, nil
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case err != nil && !dialGone(err):
			return nil, err
		}
		// Each had just gone: wait for the registrar to see it, then again.
		for _, e := range entries {
			if _, err := reg.gone(ctx, e.Rev); err != nil {
				return nil, err
			}
		}
	}
}

// A NameEventKind says what happened to a registration.
type NameEventKind uint8

// The kinds of [NameEvent].
const (
	// Registered: an actor registered the name (or was registered when the
	// watch began).
	Registered NameEventKind = iota + 1
	// Gone: the registration was closed, or its actor ended.
	Gone
)

func (k NameEventKind) String() string {
	switch k {
	case Registered:
		return "registered"
	case Gone:
		return "gone"
	}
	return fmt.Sprintf("NameEventKind(%d)", uint8(k))
}

// A NameEvent is a change under a watched name.
type NameEvent struct {
	Kind NameEventKind
	// Name is the name watched.
	Name string
	// Actor is the registrant.
	Actor transport.ActorID
	// Revision is the registration's ([Registration.Revision]).
	Revision uint64
	// Unique says the registration was exclusive.
	Unique bool
	// Err, for Gone, is how the actor ended when it died (an [*ExitError]);
	// nil when the registration was closed or the actor was stopped.
	Err error
}

// Watch yields the registrations that live under name when it begins, as
// Registered events, and then each change, as it happens, until the loop
// breaks or ctx ends (then it yields ctx's error, once, and ends). A
// watcher that falls behind sees the net change since it last looked:
// a registration that came and went meanwhile may not be reported. An
// error of the registrar is yielded once, and the watch ends. Each Watch
// costs one stream to the registrar while it runs.
func Watch(ctx context.Context, name string) iter.Seq2[NameEvent, error] {
	return func(yield func(NameEvent, error) bool) {
		if ctx == nil {
			yield(NameEvent{}, fmt.Errorf("actor: Watch %q: nil ctx: pass the caller's ctx (or context.Background())", name))
			return
		}
		if err := checkName("Watch", name); err != nil {
			yield(NameEvent{}, err)
			return
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stopped := false
		err := serverFor(ctx).names().watch(wctx, name, func(c nameChange) bool {
			ev := NameEvent{Kind: c.Kind, Name: name, Actor: c.Entry.Actor, Revision: c.Entry.Rev, Unique: c.Entry.Unique}
			if c.Why != nil {
				ev.Err = remoteError(c.Why)
			}
			if !yield(ev, nil) {
				stopped = true
				return false
			}
			return true
		})
		switch {
		case stopped:
		case ctx.Err() != nil:
			yield(NameEvent{}, fmt.Errorf("actor: Watch %q: %w", name, context.Cause(ctx)))
		case err != nil:
			yield(NameEvent{}, fmt.Errorf("actor: Watch %q: %w", name, err))
		}
	}
}

// An ActorGoneError is the failure of a call on a peer Ref (one from
// [Find]) whose actor has gone: it ended, or closed the registration the
// Ref was found through. It matches [ErrNotFound]; errors.As reaches its
// Exit.
type ActorGoneError struct {
	// Name is the name the Ref was found under.
	Name string
	// Actor is the actor that has gone.
	Actor transport.ActorID
	// Exit is how it ended when it died and its parent told the registrar
	// in time (within about a second); nil when the registration was
	// closed, the actor was stopped, or that is not known.
	Exit *ExitError
	// Err is what the connection to it ended with.
	Err error
}

func (e *ActorGoneError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "actor %s, found as %q, has gone", e.Actor, e.Name)
	switch {
	case e.Exit != nil:
		fmt.Fprintf(&b, ": %v", e.Exit)
	case e.Err != nil:
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	b.WriteString(": Find the name again")
	return b.String()
}

// Is matches [ErrNotFound].
func (e *ActorGoneError) Is(target error) bool { return target == ErrNotFound }

// Unwrap returns the exit and the connection's error, where known.
func (e *ActorGoneError) Unwrap() []error {
	var errs []error
	if e.Exit != nil {
		errs = append(errs, e.Exit)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// reserved reports whether fn is one of grove's own functions.
func reserved(fn string) bool { return strings.HasPrefix(fn, "grove.") }
