package actor

import (
	"context"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// serveFunc runs one call in the callee: it reads the arguments from the
// stream, runs the function, and returns the value to send with Return
// (stream functions send their items themselves).
type serveFunc func(ctx context.Context, s *transport.Stream) (any, error)

// The function registry: the one piece of global state, filled at init by
// the package-level variables that declare functions, so that a parent and
// its children (the same binary) know the same names.
var registry = struct {
	sync.RWMutex
	fns      map[string]serveFunc
	invokers map[string]invokeFunc // the one-value functions, for batches
}{fns: map[string]serveFunc{}, invokers: map[string]invokeFunc{}}

// invokeFunc runs a one-value function on raw msgpack arguments.
type invokeFunc func(ctx context.Context, args msgpack.RawMessage) (any, error)

func register(name string, fn serveFunc) {
	if name == "" {
		panic("actor: a function needs a name")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.fns[name]; dup {
		panic(fmt.Sprintf("actor: function %q registered twice", name))
	}
	registry.fns[name] = fn
}

func lookup(name string) serveFunc {
	registry.RLock()
	defer registry.RUnlock()
	return registry.fns[name]
}

// decodeArgs decodes a call's arguments, wrapping a failure in
// ErrBadArgument.
func decodeArgs[In any](name string, s *transport.Stream) (In, error) {
	var in In
	if err := s.DecodeArgs(&in); err != nil {
		return in, fmt.Errorf("%w: %s(%T): %v", ErrBadArgument, name, in, err)
	}
	return in, nil
}

// A Function is a function that actors can run, declared with [Func].
type Function[In, Out any] struct {
	name string
	fn   func(ctx context.Context, in In) (Out, error)
}

// Func declares a function that can be called in an actor. Declare it as a
// package-level variable, so that the parent and the actor (the same
// executable) both know it:
//
//	var Square = actor.Func("example.Square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
// In and Out cross the process boundary as msgpack. A duplicate name
// panics at init.
func Func[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error)) *Function[In, Out] {
	if fn == nil {
		panic("actor: Func needs a function")
	}
	f := &Function[In, Out]{name: name, fn: fn}
	invoke := func(ctx context.Context, args msgpack.RawMessage) (any, error) {
		var in In
		if err := msgpack.Unmarshal(args, &in); err != nil {
			return nil, fmt.Errorf("%w: %s(%T): %v", ErrBadArgument, name, in, err)
		}
		return f.fn(ctx, in)
	}
	register(name, func(ctx context.Context, s *transport.Stream) (any, error) {
		return invoke(ctx, s.Args())
	})
	registry.Lock()
	registry.invokers[name] = invoke
	registry.Unlock()
	return f
}

// Name returns the name the function was declared with.
func (f *Function[In, Out]) Name() string { return f.name }

// Call runs the function in the actor ref with in and returns its result.
// It blocks until the result arrives or ctx ends; then it cancels the
// remote call (the remote function's ctx is cancelled) and returns ctx's
// error at once. A remote error comes back as a [*RemoteError] (also for a
// result that cannot be encoded, or a function that calls runtime.Goexit);
// the death of the actor's process as an [*ExitError]; a call cut short by
// the actor's stop as an error matching [ErrStopped].
func (f *Function[In, Out]) Call(ctx context.Context, ref *Ref, in In) (Out, error) {
	return CallByName[Out](ctx, ref, f.name, in)
}

// CallByName calls the function registered as name in the actor ref, for
// actors of another executable whose Go declarations the caller does not
// import. in is encoded with msgpack and the result decoded into Out; the
// rest is as [Function.Call].
func CallByName[Out any](ctx context.Context, ref *Ref, name string, in any) (Out, error) {
	var out Out
	s, err := ref.open(ctx, name, in)
	if err != nil {
		return out, err
	}
	defer s.Close()
	for {
		m, err := ref.recv(ctx, s)
		if err != nil {
			return out, err
		}
		switch m.Kind {
		case transport.KindReturn:
			if err := m.Decode(&out); err != nil {
				return out, fmt.Errorf("actor: %s result: %w", name, err)
			}
			return out, nil
		case transport.KindError:
			return out, remoteError(m.Err)
		}
	}
}
