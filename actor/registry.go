package actor

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
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
	batchers map[string]batchRunner // the one-value functions, for batches
}{fns: map[string]serveFunc{}, batchers: map[string]batchRunner{}}

// register adds fn to the registry under name. It panics on an empty or
// duplicate name, and when it runs after package initialisation: a
// function declared inside a function (main, a test) would be known to
// this process but not to a freshly started actor process, whose calls
// would fail with a bare unknown function; refusing it on every backend
// keeps behaviour the same on all of them.
func register(name string, fn serveFunc) {
	if name == "" {
		panic("actor: a function needs a name")
	}
	if reserved(name) && !internalFunc(name) {
		panic(fmt.Sprintf("actor: function %q: names beginning with \"grove.\" are reserved for grove's own functions: "+
			"choose another prefix (your package's name, say)", name))
	}
	if !initialising() {
		panic(fmt.Sprintf("actor: function %q declared after package initialisation (inside a function?): "+
			"declare it as a package-level variable, so that every process of the executable registers it before main runs", name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.fns[name]; dup {
		panic(fmt.Sprintf("actor: function %q registered twice", name))
	}
	registry.fns[name] = fn
}

// initialising reports whether its caller runs during package
// initialisation (a package-level variable's initialiser or an init
// function), which the runtime runs from runtime.doInit before main. It
// walks the stack: a few microseconds, once per declaration.
func initialising() bool {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(2, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "runtime.doInit") {
			return true
		}
		if !more {
			return false
		}
	}
}

// unknownFunction is the error of a call of a name this actor has not
// registered, with the likeliest cause.
func unknownFunction(name string, me transport.ActorID) error {
	return fmt.Errorf("%w %q in %s: functions must be declared as package-level variables of the actor's executable, "+
		"so that they are registered before main runs (or call one of another executable with WithExecutable)", ErrUnknownFunction, name, me)
}

// internalFunc reports whether name is one of grove's own reserved
// functions, served by every actor.
func internalFunc(name string) bool { return name == batchFunc || debugFunc(name) }

func lookup(name string) serveFunc {
	registry.RLock()
	defer registry.RUnlock()
	return registry.fns[name]
}

// mustCross panics, at a function's declaration, if values of In or Out
// would lose data on the wire (transport.CheckType).
func mustCross[In, Out any](name string) {
	for _, side := range []struct {
		what string
		t    reflect.Type
	}{{"input", reflect.TypeFor[In]()}, {"output", reflect.TypeFor[Out]()}} {
		if err := transport.CheckType(side.t); err != nil {
			panic(fmt.Sprintf("actor: function %q: its %s type %s cannot cross whole: %v", name, side.what, side.t, err))
		}
	}
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
// In and Out cross the process boundary as msgpack, strictly (README,
// Encoding): a struct type, at any depth, with an unexported field that is
// not tagged `msgpack:"-"` panics here, since msgpack would drop it; a
// number that does not fit its type fails the call with [ErrBadArgument]
// (an argument) or a decode error (a result). A duplicate name
// panics at init, and so does a declaration after package initialisation
// (inside main or a test function), on every backend, and a name that
// begins with "grove." (reserved for grove's own functions).
func Func[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error)) *Function[In, Out] {
	if fn == nil {
		panic("actor: Func needs a function")
	}
	mustCross[In, Out](name)
	f := &Function[In, Out]{name: name, fn: fn}
	invoke := func(ctx context.Context, args msgpack.RawMessage) (any, error) {
		var in In
		if err := decodeValid(transport.KindCall, args, &in); err != nil {
			return nil, fmt.Errorf("%w: %s(%T): %v", ErrBadArgument, name, in, err)
		}
		return f.fn(ctx, in)
	}
	register(name, func(ctx context.Context, s *transport.Stream) (any, error) {
		return invoke(ctx, s.Args())
	})
	registry.Lock()
	registry.batchers[name] = batchRunnerOf(name, fn)
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
//
// A nil Ref, ctx or Function is an error that says so.
func (f *Function[In, Out]) Call(ctx context.Context, ref *Ref, in In) (Out, error) {
	if f == nil {
		var out Out
		return out, fmt.Errorf("actor: Call on a nil *Function[%T, %T]: declare it with actor.Func", *new(In), out)
	}
	return CallByName[Out](ctx, ref, f.name, in)
}

// CallByName calls the function registered as name in the actor ref, for
// actors of another executable whose Go declarations the caller does not
// import. in is encoded with msgpack and the result decoded into Out; the
// rest is as [Function.Call].
func CallByName[Out any](ctx context.Context, ref *Ref, name string, in any) (Out, error) {
	ctx, done := observeCall(ctx, ref, name, CallKindUnary)
	out, err := callByName[Out](ctx, ref, name, in)
	if done != nil {
		done(CallEnd{Err: err})
	}
	return out, err
}

func callByName[Out any](ctx context.Context, ref *Ref, name string, in any) (Out, error) {
	var out Out
	if err := transport.CheckType(reflect.TypeFor[Out]()); err != nil {
		return out, fmt.Errorf("actor: %s: the result type %T cannot cross whole: %w", name, out, err)
	}
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
			return out, ref.answerError(name, m.Err)
		}
	}
}
