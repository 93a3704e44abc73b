// Package grove is a structured-concurrency actor runtime for Go. The root
// package holds no code of its own: it documents the runtime and carries the
// tests that cross package boundaries (runtime_test.go).
//
// The packages, bottom up:
//
//   - [github.com/grove-rt/grove/nursery]: Trio's nurseries: scopes that
//     own goroutines, cancel on the first failure and report every failure.
//   - [github.com/grove-rt/grove/transport]: the wire: framed msgpack
//     messages multiplexed into flow-controlled streams over socketpairs,
//     Unix sockets and authenticated TCP.
//   - [github.com/grove-rt/grove/actor]: Tractor's actors: child processes
//     that run registered functions for their parent, each a task of a
//     nursery, so that the nursery tree spans processes. Cancellation flows
//     down, errors flow up with the remote stack, nothing is orphaned.
//   - [github.com/grove-rt/grove/pool]: a reusable, crash-proof pool of
//     worker actors (loky's reusable executor): Submit, Map with batching,
//     Shared; a dead worker fails only its own task and is replaced.
//   - [github.com/grove-rt/grove/bridge]: event loops, and RunSync to run
//     blocking work from code on a loop without nesting loops (the Kedro
//     fix for Jupyter), with the deadlocks turned into errors.
//
// A program that uses actors starts with actor.Main():
//
//	var Square = actor.Func("example.Square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	func main() {
//		actor.Main() // in a spawned actor: serve the parent, never return
//		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
//			ref, err := actor.Spawn(ctx, n, "worker")
//			if err != nil {
//				return err
//			}
//			v, err := Square.Call(ctx, ref, 7) // 49, computed in the child process
//			fmt.Println(v, err)
//			n.Cancel(nil) // stop the worker; Run returns once it is reaped
//			return nil
//		})
//		if err != nil {
//			log.Fatal(err) // an *actor.RemoteError, an *actor.ExitError, ...
//		}
//	}
//
// Where processes cannot be spawned (GOOS=js, wasip1, sandboxes), actors run
// on goroutines behind the same API (actor.WithBackend, GROVE_BACKEND).
//
// DESIGN.md in the repository explains the architecture and its rules.
package grove
