package actor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grove-rt/grove/transport"
)

// The registrar's functions, which an actor calls on its parent and each
// parent forwards to its own, up to the root. A parent serves its child
// nothing else; peers may never call them.
const (
	fnRegister   = "grove.names.register"
	fnUnregister = "grove.names.unregister"
	fnLookup     = "grove.names.lookup"
	fnWait       = "grove.names.wait"
	fnWatch      = "grove.names.watch"
	fnDrop       = "grove.names.drop"
	fnGone       = "grove.names.gone"
	fnSecret     = "grove.names.secret"
)

// dropBound bounds how long an actor's end waits for the registrar to
// remove its names; a parent that cannot reach the root within it is cut
// off, and its own end removes the whole subtree.
const dropBound = time.Second

// dropArgs are the arguments of fnDrop.
type dropArgs struct {
	Path []string
	Why  *transport.ErrorInfo
}

// unregisterArgs are the arguments of fnUnregister: like a drop's, the path
// is prefixed by each parent on the way, so that an actor can remove only
// the registrations of its own subtree.
type unregisterArgs struct {
	Path []string
	Rev  uint64
}

// errLinkGone is the error of a call on the registry of an actor whose
// link to its parent has ended (it has ended, or is ending).
var errLinkGone = errors.New("the link to its parent is gone")

// An uplink is the registry of an actor: calls on the link to its parent.
type uplink struct{ sv *server }

// conn waits for the link to be established (a call can run before the
// server has recorded it). A link established serves for as long as it
// lives, the actor's stop notwithstanding: its ending children's drops go
// through it.
func (u uplink) conn(ctx context.Context) (*transport.Conn, error) {
	select {
	case <-u.sv.linked:
	default:
		select {
		case <-u.sv.linked:
		case <-u.sv.root.Done():
			select {
			case <-u.sv.linked:
			default:
				return nil, fmt.Errorf("actor %s: %w: %w", u.sv.id, errLinkGone, context.Cause(u.sv.root))
			}
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	c := u.sv.link.Load()
	if c == nil || closed(c.Done()) {
		return nil, fmt.Errorf("actor %s: %w", u.sv.id, errLinkGone)
	}
	return c, nil
}

// open starts fn on the parent.
func (u uplink) open(ctx context.Context, fn string, args any) (*transport.Stream, error) {
	c, err := u.conn(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.Call(ctx, fn, args)
	if err != nil && closed(c.Done()) {
		return nil, fmt.Errorf("actor %s: %w: %w", u.sv.id, errLinkGone, err)
	}
	return s, err
}

// next receives the stream's next message; when ctx ends first it cancels
// the call.
func next(ctx context.Context, s *transport.Stream) (*transport.Message, error) {
	m, err := s.Recv(ctx)
	if err != nil {
		if ctx.Err() != nil {
			_ = s.Cancel(context.Background())
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	if m.Kind == transport.KindError {
		return nil, remoteError(m.Err)
	}
	return m, nil
}

// call runs fn on the parent and decodes its result into out.
func (u uplink) call(ctx context.Context, fn string, args, out any) error {
	s, err := u.open(ctx, fn, args)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		m, err := next(ctx, s)
		if err != nil {
			return err
		}
		if m.Kind == transport.KindReturn {
			if out == nil {
				return nil
			}
			return m.Decode(out)
		}
	}
}

func (u uplink) register(ctx context.Context, e nameEntry) (nameEntry, error) {
	var got nameEntry
	err := u.call(ctx, fnRegister, e, &got)
	return got, err
}

func (u uplink) unregister(ctx context.Context, path []string, rev uint64) error {
	return u.call(ctx, fnUnregister, unregisterArgs{Path: path, Rev: rev}, nil)
}

func (u uplink) lookup(ctx context.Context, name string) ([]nameEntry, error) {
	var got []nameEntry
	err := u.call(ctx, fnLookup, name, &got)
	return got, err
}

func (u uplink) wait(ctx context.Context, name string) ([]nameEntry, error) {
	var got []nameEntry
	err := u.call(ctx, fnWait, name, &got)
	return got, err
}

func (u uplink) watch(ctx context.Context, name string, fn func(nameChange) bool) error {
	s, err := u.open(ctx, fnWatch, name)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		m, err := next(ctx, s)
		if err != nil {
			return err
		}
		switch m.Kind {
		case transport.KindYield:
			var c nameChange
			if err := m.Decode(&c); err != nil {
				return err
			}
			if !fn(c) {
				_ = s.Cancel(context.Background())
				return nil
			}
		case transport.KindReturn:
			return errors.New("actor: the registrar ended the watch")
		}
	}
}

func (u uplink) drop(ctx context.Context, path []string, why *transport.ErrorInfo) error {
	return u.call(ctx, fnDrop, dropArgs{Path: path, Why: why}, nil)
}

func (u uplink) gone(ctx context.Context, rev uint64) (*transport.ErrorInfo, error) {
	var why *transport.ErrorInfo
	err := u.call(ctx, fnGone, rev, &why)
	return why, err
}

func (u uplink) secret(ctx context.Context) ([]byte, error) {
	var key []byte
	err := u.call(ctx, fnSecret, nil, &key)
	return key, err
}

// serveChild is the handler of the parent's end of the actor's link: it
// serves the registrar's functions, which the actor (or one of its
// descendants, through it) calls, by forwarding them to the registry of
// the actor that spawned it, after putting the actor's id on the path of
// what passes through. The actor can claim no place in another's subtree.
func (r *Ref) serveChild(s *transport.Stream) {
	ctx := s.Context()
	var out any
	var err error
	switch fn := s.Func(); fn {
	case fnRegister:
		var e nameEntry
		if err = s.DecodeArgs(&e); err != nil {
			break
		}
		if len(e.Path) == 0 && e.Actor.ID != r.id.ID {
			err = fmt.Errorf("actor: registrar: %s registered on behalf of %s", r.id, e.Actor)
			break
		}
		e.Path = append([]string{r.id.ID}, e.Path...)
		if err = checkEntry(e); err != nil {
			break
		}
		r.named.Store(true)
		out, err = r.names.register(ctx, e)
	case fnUnregister:
		var u unregisterArgs
		if err = s.DecodeArgs(&u); err == nil {
			u.Path = append([]string{r.id.ID}, u.Path...)
			if err = checkPath(u.Path); err == nil {
				err = r.names.unregister(ctx, u.Path, u.Rev)
			}
		}
	case fnLookup, fnWait:
		var name string
		if err = s.DecodeArgs(&name); err != nil {
			break
		}
		if err = checkName(fn, name); err != nil {
			break
		}
		if fn == fnLookup {
			out, err = r.names.lookup(ctx, name)
		} else {
			out, err = r.names.wait(ctx, name)
		}
	case fnWatch:
		var name string
		if err = s.DecodeArgs(&name); err == nil {
			if err = checkName(fn, name); err == nil {
				err = r.names.watch(ctx, name, func(c nameChange) bool { return s.Yield(ctx, c) == nil })
			}
		}
		if err == nil {
			return // the caller cancelled it, or is gone: nobody to answer
		}
	case fnDrop:
		var d dropArgs
		if err = s.DecodeArgs(&d); err == nil {
			d.Path = append([]string{r.id.ID}, d.Path...)
			if err = checkPath(d.Path); err == nil {
				err = r.names.drop(ctx, d.Path, d.Why)
			}
		}
	case fnGone:
		var rev uint64
		if err = s.DecodeArgs(&rev); err == nil {
			out, err = r.names.gone(ctx, rev)
		}
	case fnSecret:
		out, err = r.names.secret(ctx)
	default:
		err = fmt.Errorf("%w %q: a parent serves its actor only the registrar's functions", ErrUnknownFunction, fn)
	}
	if err != nil {
		_ = s.Fail(context.Background(), errorInfo(self, err, ""))
		return
	}
	_ = s.Return(context.Background(), out)
}

// dropNames removes the names of the actor and its subtree, once it has
// ended, if any ever passed through its link: before its task in its
// parent's nursery ends, so that no name outlives its owner. It waits for
// the registrar, for at most dropBound.
func (r *Ref) dropNames() {
	if !r.named.Load() {
		return
	}
	var why *transport.ErrorInfo
	if r.end == died || r.end == broken {
		why = errorInfo(self, r.endErr, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), dropBound)
	defer cancel()
	_ = r.names.drop(ctx, []string{r.id.ID}, why)
}

// errNoMainYet is the error of discovery in a process started as an actor
// before Main has taken over: that process's code is no actor's, and only
// Main's server reaches the tree's registrar.
var errNoMainYet = errors.New("actor: discovery by name was used in a process started as an actor, " +
	"before actor.Main() took over: call actor.Main() first in main, and Register, Find, Wait and Watch " +
	"from the actor's functions, with their ctx")

// noRegistry is the registry of a process started as an actor before Main
// has taken over: every call fails with errNoMainYet.
type noRegistry struct{}

func (noRegistry) register(context.Context, nameEntry) (nameEntry, error) {
	return nameEntry{}, errNoMainYet
}
func (noRegistry) unregister(context.Context, []string, uint64) error  { return errNoMainYet }
func (noRegistry) lookup(context.Context, string) ([]nameEntry, error) { return nil, errNoMainYet }
func (noRegistry) wait(context.Context, string) ([]nameEntry, error)   { return nil, errNoMainYet }
func (noRegistry) watch(context.Context, string, func(nameChange) bool) error {
	return errNoMainYet
}
func (noRegistry) drop(context.Context, []string, *transport.ErrorInfo) error { return errNoMainYet }
func (noRegistry) gone(context.Context, uint64) (*transport.ErrorInfo, error) {
	return nil, errNoMainYet
}
func (noRegistry) secret(context.Context) ([]byte, error) { return nil, errNoMainYet }
