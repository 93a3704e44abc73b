// Package actor runs functions in child processes organised in nursery
// trees: Tractor's actor model in Go.
//
// An actor lives until it is cancelled, as Tractor's daemon actors do: the
// nursery it was spawned in waits for it, so a body that is done with its
// actors must end them, with n.Cancel(nil) (the usual last line) or
// [Ref.Cancel]. A body that returns without doing so makes Run wait; after
// [DefaultIdleWarning] (see [WithIdleWarning]) an actor with no call in
// flight logs one log/slog warning naming itself and this fix.
//
// An actor is a child OS process, by default this same executable
// re-executed, that serves registered functions to its parent over an
// inherited socketpair (package transport). Each actor is a task of a
// nursery (package nursery): when it dies the nursery cancels its siblings
// and reports the error; when the nursery is cancelled the actor is
// cancelled and reaped. Functions running in an actor can open nurseries and
// spawn actors of their own, so the tree spans processes.
//
//	var Square = actor.Func("example.Square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	func main() {
//		actor.Main() // first: in a spawned actor this serves and never returns
//		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
//			ref, err := actor.Spawn(ctx, n, "worker")
//			if err != nil {
//				return err
//			}
//			v, err := Square.Call(ctx, ref, 7) // 49, computed in the child
//			fmt.Println(v, err)
//			n.Cancel(nil) // stop the worker; Run returns once it is reaped
//			return nil
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//	}
//
// Functions are declared with [Func] (one value in, one out), [StreamFunc]
// (items flow back over a Go channel) and [DuplexFunc] (channels both
// ways), as package-level variables, so that every process of the binary
// registers the same names. Errors cross the boundary as [*RemoteError]
// (type, message, remote stack, source actor and relay path; errors.Is works
// for sentinels registered with [RegisterError], and the standard library's
// common ones, such as fs.ErrNotExist, are registered already); the death of
// an actor's process as [*ExitError] (exit code, signal, stderr tail).
//
// Cancelling an actor sends a stop message; if the process has not exited
// after the grace period ([DefaultGrace]) it gets SIGTERM, and after the
// kill delay ([DefaultKillDelay]) SIGKILL. The process is always waited for.
// When a parent dies by any means its actors notice at once (on Linux the
// kernel SIGKILLs them; everywhere their link reaches EOF) and exit, and
// their own actors with them: no orphans.
//
// Any actor in the tree can make itself findable by name with [Register],
// and any other can [Find], [FindAll], [Wait] for or [Watch] it: the root
// process is the registrar, reached along the parent links, and a name dies
// with its actor (its parent removes it before the actor's task ends).
// A Ref from Find calls the actor directly, over a private socket, and
// only the functions its registration exposes ([Expose]); it is not owned,
// so it cannot be cancelled:
//
//	reg, err := actor.Register(ctx, "cache", actor.Unique(), actor.Expose(Square))
//	// ... elsewhere in the tree:
//	ref, err := actor.Find(ctx, "cache")
//	v, err := Square.Call(ctx, ref, 7)
//
// # Observing the tree
//
// [Tree] is a snapshot of the live tree from the caller down (each actor's
// state, calls in flight, uptime and memory) and [DumpStacks] its
// goroutine stacks; [ServeDebug] serves both on a Unix socket, opt-in as
// net/http/pprof is, for `grove ps PID` and `grove stacks PID` (package
// cmd/grove) or [DebugTree] and [DebugStacks]. [WithLogger] makes an
// actor's output and grove's warnings records of a [log/slog] logger.
// [SetInstrumentation] registers one [Instrumentation] that observes every
// spawn and call on both sides; module otelgrove implements it for
// OpenTelemetry (traces across processes, metrics). [WithCmd] reaches the
// actor's [os/exec.Cmd] before it starts, for what the options do not cover.
package actor
