// Package pool is a reusable, crash-proof pool of worker processes:
// grove's answer to loky's reusable executor and Python's
// multiprocessing.Pool.
//
// Workers are actors (package actor), so a task runs in another process,
// its errors come back as [*actor.RemoteError] and its cancellation reaches
// the worker. A warm worker turns the few milliseconds a spawn costs into
// the tens of microseconds of a call, and [Map] batches tiny tasks many to a
// round trip so that each costs well under a microsecond.
//
// Crashes fail only what they hit: a worker that dies (os.Exit with any
// status, SIGKILL, SIGSEGV, a Go fatal error) fails the task it was running
// with its [*actor.ExitError], and the pool spawns a replacement; every
// other task completes. A task handed to a worker that died before it began
// runs on another worker; in [Map] only the item that was running fails,
// and the items of its batch that had not started run elsewhere. Only a
// crash loop (more worker deaths than the limit within the window,
// [WithCrashLimit]) breaks the pool ([ErrBroken]), and [Shared] then hands
// out a fresh one.
//
// A task's ctx ([Submit]'s) drops it while it is queued and cancels it in
// its worker once it runs. [Pool.Shutdown] drains the pool and
// [Pool.Close] kills it, as net/http's Server.Shutdown and Close do.
//
//	p, err := pool.New(ctx, pool.WithWorkers(4))
//	defer p.Shutdown(ctx)
//	f := pool.Submit(ctx, p, Square, 7)   // Square is an actor.Func
//	v, err := f.Result(ctx)               // 49, computed in a worker
//	for v, err := range pool.Map(ctx, p, Square, slices.Values(xs)) { /* in input order */ }
package pool
