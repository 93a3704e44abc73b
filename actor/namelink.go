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

// An uplink is the registry of an actor: calls on the link to its parent.
type uplink struct{ sv *server }

// conn waits for the link to be established (a call can run before the
// server has recorded it).
func (u uplink) conn(ctx context.Context) (*transport.Conn, error) {
	select {
	case <-u.sv.linked:
		return u.sv.link.Load(), nil
	case <-u.sv.root.Done():
		return nil, fmt.Errorf("actor %s: the link to its parent is gone: %w", u.sv.id, context.Cause(u.sv.root))
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// open starts fn on the parent.
func (u uplink) open(ctx context.Context, fn string, args any) (*transport.Stream, error) {
	c, err := u.conn(ctx)
	if err != nil {
		return nil, err
	}
	return c.Call(ctx, fn, args)
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

func (u uplink) unregister(ctx context.Context, rev uint64) error {
	return u.call(ctx, fnUnregister, rev, nil)
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
		r.named.Store(true)
		out, err = r.names.register(ctx, e)
	case fnUnregister:
		var rev uint64
		if err = s.DecodeArgs(&rev); err == nil {
			err = r.names.unregister(ctx, rev)
		}
	case fnLookup, fnWait:
		var name string
		if err = s.DecodeArgs(&name); err != nil {
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
			err = r.names.watch(ctx, name, func(c nameChange) bool { return s.Yield(ctx, c) == nil })
		}
		if err == nil {
			return // the caller cancelled it, or is gone: nobody to answer
		}
	case fnDrop:
		var d dropArgs
		if err = s.DecodeArgs(&d); err == nil {
			err = r.names.drop(ctx, append([]string{r.id.ID}, d.Path...), d.Why)
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
