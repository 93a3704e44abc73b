package actor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sourcegraph/conc/panics"

	"github.com/grove-rt/grove/transport"
)

// orphanExit bounds how long an actor whose parent died, or that got
// SIGTERM, lets its calls wind down before it exits.
const orphanExit = 500 * time.Millisecond

// Main must be the first line of main() in every program that spawns or
// serves actors (and of TestMain in tests that spawn them). In an ordinary
// process it returns at once. In a process spawned as an actor it serves
// its parent until it is cancelled, or the parent goes away, and then exits
// the process: there it never returns.
//
// An actor ignores SIGINT (Ctrl-C reaches the parent, which cancels the
// tree) and treats SIGTERM as a cancel. When its parent dies, by any means,
// it notices within milliseconds (the link reaches EOF; on Linux the kernel
// also delivers SIGKILL), cancels its own actors, and exits.
func Main() {
	if !startedAsActor {
		return
	}
	mainServing.Store(true)
	code := serveParent()
	flushInstrumentation() // the last calls' spans, which the exit would lose
	os.Exit(code)
}

type identityKey struct{}

// identity returns the actor whose code holds ctx: an in-process actor
// marks its calls' ctx; otherwise it is this process.
func identity(ctx context.Context) transport.ActorID {
	if id, ok := ctx.Value(identityKey{}).(transport.ActorID); ok {
		return id
	}
	return self
}

// serveCall runs one call from the parent: the registered function, under
// the stream's ctx, which derives from the server's root (the link's base
// context) and which the transport cancels when the caller's Cancel
// arrives, the link ends or the actor stops: no goroutine watches for it.
// Whatever the function does, the caller gets an answer: a panic, a result
// that cannot be encoded, and a runtime.Goexit are each reported as a
// RemoteError, and the actor serves on.
func serveCall(root context.Context, s *transport.Stream) {
	name := s.Func()
	me := identity(root)
	fn := lookup(name)
	ctx, done, items := observeServe(s.Context(), me, s)
	if fn == nil { // observed too: a server span with the error, as a 404 gets one
		err := unknownFunction(name, me)
		_ = s.Fail(context.Background(), errorInfo(me, err, ""))
		if done != nil {
			done(CallEnd{Err: err})
		}
		return
	}
	returned := false
	defer func() {
		if !returned { // runtime.Goexit unwinds the goroutine through here
			_ = s.Fail(context.Background(), errorInfo(me, goexitError(name), ""))
			if done != nil {
				done(CallEnd{Err: goexitError(name), Items: int(items.Load())})
			}
		}
	}()
	var out any
	var err, retErr error
	if name != batchFunc { // a batch notes its beginning once it may run (batchGate)
		progressOf(root).begin(s.ID())
	}
	// The result's own EncodeMsgpack runs in Return: one Try covers both.
	rec := try(func() {
		if out, err = fn(ctx, s); err == nil {
			retErr = s.Return(context.Background(), out)
		}
	})
	returned = true
	switch {
	case rec != nil:
		info := panicInfo(me, rec)
		_ = s.Fail(context.Background(), info)
		err = remoteError(info)
	case err != nil:
		_ = s.Fail(context.Background(), errorInfo(me, stoppedCall(ctx, err), ""))
	case retErr != nil:
		// Nothing went out (a result msgpack cannot encode, or one over the
		// frame limit): the caller must still hear why. On a link that is
		// gone, the Fail fails too, and the caller learns that instead.
		err = fmt.Errorf("actor: %s: cannot send its result of type %T: %w", name, out, retErr)
		_ = s.Fail(context.Background(), errorInfo(me, err, ""))
	}
	if done != nil {
		done(CallEnd{Err: err, Items: int(items.Load())})
	}
}

// try runs f and returns the panic it raised, if any, as panics.Try
// does, without panics.Try's allocation of its Catcher (one a call): f
// does not escape. A runtime.Goexit in f goes on unwinding the goroutine.
func try(f func()) (rec *panics.Recovered) {
	defer func() {
		if v := recover(); v != nil {
			r := panics.NewRecovered(1, v)
			rec = &r
		}
	}()
	f()
	return nil
}

// stoppedCall marks a function's cancellation error with the cause of the
// actor's end when that is what cancelled it (ErrStopped for its stop
// message, errEnded otherwise), so that its caller can tell it from its own
// cancel.
func stoppedCall(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if errors.Is(err, context.Canceled) && (errors.Is(cause, ErrStopped) || errors.Is(cause, errEnded)) && !errors.Is(err, cause) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// panicInfo is the wire form of a recovered panic.
func panicInfo(me transport.ActorID, rec *panics.Recovered) *transport.ErrorInfo {
	value, stack := rec.Value, rec.Stack
	if inner, ok := value.(*panics.Recovered); ok { // re-raised by a stream
		value, stack = inner.Value, inner.Stack
	}
	return &transport.ErrorInfo{
		Type: PanicType, Message: fmt.Sprint(value), Stack: panicStack(stack), Source: me,
		Is: matchingSentinels(asError(value)),
	}
}

// panicStack trims a recovered panic's stack so that the user's frames
// lead: the goroutine header, then the frames from the panic down, without
// the runtime's, grove's and conc's (the recovery and serving machinery),
// and a last line counting what was left out. A stack of nothing but such
// frames is kept whole.
func panicStack(stack []byte) string {
	lines := strings.Split(strings.TrimRight(string(stack), "\n"), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "goroutine ") {
		return string(stack)
	}
	kept := []string{lines[0]}
	elided := 0
	for i := 1; i < len(lines); i++ {
		frame := []string{lines[i]}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			i++
			frame = append(frame, lines[i])
		}
		if machineryFrame(frame[0]) {
			elided++
			continue
		}
		kept = append(kept, frame...)
	}
	if len(kept) == 1 {
		return string(stack)
	}
	if elided > 0 {
		kept = append(kept, fmt.Sprintf("...%d frames of the runtime, grove and conc elided...", elided))
	}
	return strings.Join(kept, "\n") + "\n"
}

// machineryPackages are the packages whose frames panicStack trims.
var machineryPackages = []string{
	"runtime", "github.com/sourcegraph/conc",
	"github.com/grove-rt/grove/actor", "github.com/grove-rt/grove/nursery",
	"github.com/grove-rt/grove/transport", "github.com/grove-rt/grove/pool",
	"github.com/grove-rt/grove/bridge", "github.com/grove-rt/grove/internal",
}

// machineryFrame reports whether a stack line names a function of the
// runtime, grove or conc (not of their tests): "pkg/path.Func(args)" or
// "created by pkg/path.Func in goroutine N".
func machineryFrame(line string) bool {
	fn := strings.TrimPrefix(line, "created by ")
	if strings.HasPrefix(fn, "panic(") {
		return true
	}
	if i := strings.IndexByte(fn, '('); i >= 0 {
		fn = fn[:i]
	}
	pkg := fn
	if dot := strings.IndexByte(fn[strings.LastIndexByte(fn, '/')+1:], '.'); dot >= 0 {
		pkg = fn[:strings.LastIndexByte(fn, '/')+1+dot]
	}
	for _, m := range machineryPackages {
		if pkg == m || strings.HasPrefix(pkg, m+"/") {
			return !strings.HasSuffix(pkg, "_test")
		}
	}
	return false
}

func asError(v any) error {
	if err, ok := v.(error); ok {
		return err
	}
	return nil
}

// goexitError is the answer of a function that called runtime.Goexit
// instead of returning.
func goexitError(name string) error {
	return fmt.Errorf("actor: %s called runtime.Goexit: the function exited its goroutine without returning", name)
}
