// Package nursery gives Go Trio's structured concurrency: a [Nursery] is a
// scope that owns goroutines, and [Run] does not return until the scope's
// body and every goroutine started in it have returned.
//
// The rules, in short:
//
//   - Run waits for every child, and a child that lives until it is
//     cancelled (an actor, a server loop) keeps it waiting: a body that is
//     done with such children must end them, with [Nursery.Cancel] or the
//     child's own cancel. A body that returns does not cancel anything.
//     [Nursery.BodyDone] tells such a child that the body has returned; an
//     actor uses it to warn, after a while, that it is still waiting to be
//     cancelled.
//   - The first error from the body or a child cancels the nursery's context,
//     with that error as the [context.Cause]. Every other task sees the
//     cancellation at its next ctx-aware call.
//   - All genuine errors are collected and returned together; the
//     [context.Canceled] errors that the nursery's own cancellation caused are
//     dropped, so "one child failed and its siblings were cancelled" returns
//     just that child's error. [Errors] lists the leaves of a combined error.
//   - A panic in a child or in the body becomes a [*PanicError] carrying the
//     value and the stack; it never crashes the process.
//   - [Nursery.Cancel] is a clean stop: if nothing else failed, Run returns nil.
//     A cancellation of the ctx given to Run is not: Run then returns that
//     context's error, as Go code expects, and an enclosing nursery drops it as
//     its own.
//   - [Start] is Trio's nursery.start: it waits until a child reports that it
//     is ready and hands back the value it reported.
//
// Deadline scopes ([MoveOnAfter], [FailAfter]) and [Shield] complete the
// cancel-scope vocabulary in terms of [context.Context].
//
// Every goroutine the package starts is joined before [Run] returns.
// Misuse (a nil function, a nil nursery, Go on a closed nursery) panics at
// once with a message that says what was wrong; nothing blocks forever.
package nursery
