package actor

import (
	"context"
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
	os.Exit(serveParent())
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
// a ctx cancelled by the caller's Cancel or the actor's stop; a panic is
// reported as a RemoteError and the actor serves on.
func serveCall(root context.Context, stop context.CancelFunc, s *transport.Stream) {
	name := s.Func()
	if name == stopFunc {
		stop()
		_ = s.Return(context.Background(), nil)
		return
	}
	fn := lookup(name)
	if fn == nil {
		me := identity(root)
		_ = s.Fail(context.Background(), errorInfo(me, fmt.Errorf("%w %q in %s", ErrUnknownFunction, name, me), ""))
		return
	}
	ctx, cancel := context.WithCancel(root)
	defer cancel()
	go func() {
		select {
		case <-s.Canceled():
			cancel()
		case <-ctx.Done():
		}
	}()
	var out any
	var err error
	rec := panics.Try(func() { out, err = fn(ctx, s) })
	if rec != nil {
		_ = s.Fail(context.Background(), panicInfo(identity(root), rec))
		return
	}
	if err != nil {
		_ = s.Fail(context.Background(), errorInfo(identity(root), err, ""))
		return
	}
	_ = s.Return(context.Background(), out)
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

// panicStack trims the recovery machinery from a recovered panic's stack:
// the goroutine header, then the frames from the panic down, as Go prints
// an unrecovered panic.
func panicStack(stack []byte) string {
	s := string(stack)
	header, rest, ok := strings.Cut(s, "\n")
	if i := strings.Index(rest, "\npanic("); ok && i >= 0 {
		return header + "\n" + rest[i+1:]
	}
	return s
}

func asError(v any) error {
	if err, ok := v.(error); ok {
		return err
	}
	return nil
}
