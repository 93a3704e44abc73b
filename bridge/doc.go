// Package bridge connects event loops with blocking work, without ever
// nesting loops: the fix for Python's "asyncio.run() cannot be called from a
// running event loop", made the default in Go.
//
// A [Loop] is one goroutine that runs callbacks one at a time, in the order
// they were posted: a UI thread, a notebook kernel, a game loop, a
// single-owner state machine. Code on a loop must not block, yet it often
// needs the result of blocking work (a pool call, a fan-out over actors).
//
//   - [Run] is asyncio.run: a fresh loop on the calling goroutine. Called from
//     code already on a loop it refuses with [ErrLoopRunning], as Python does,
//     and so does [Loop.Run].
//   - [RunSync] is the fix (Kedro's, for Jupyter): from a loop it runs the
//     work on a dedicated goroutine with a fresh loop of its own and waits;
//     from ordinary code it is Run. It nests at any depth, at a flat cost per
//     level. It blocks the calling loop for as long as the work runs: for
//     work that must not block the loop (a UI's), use Go.
//   - [Call] runs a function on a given loop and waits (Trio's
//     from_thread.run); from that loop itself it runs inline.
//   - [Go] starts blocking work from a loop and delivers its result back on
//     the loop, so the loop never blocks.
//   - A [Limiter] bounds how many offloaded calls run at once.
//
// Go has no goroutine identity, so a loop's identity travels in the ctx it
// hands to its callbacks: code that drops that ctx (uses
// context.Background() instead) is no longer known to be on the loop, and
// the guards above cannot help it; and a goroutine that a callback starts
// with the loop's ctx is taken for the loop itself, so hand such goroutines
// [OffLoop](ctx) instead (or start them with [Go]). The one deadlock the
// guards cannot see is work that waits, through a goroutine that did not
// inherit the ctx, for a loop that is blocked waiting for that work.
//
// While a loop is blocked in RunSync, the work it waits for may call back
// onto that very loop with Call (Trio's from_thread.run from a to_thread
// worker): the waiting RunSync runs the callback on the loop, and the
// callback may start another RunSync, to any depth. Nothing else posted to
// the loop runs until the RunSync returns. The one call bridge sees could
// never finish is refused with [ErrLoopBlocked]: work (typically started
// from the loop with Go) calling the loop while the loop's RunSync waits for
// a limiter of which every slot is held by work calling the loop. Calls from
// unrelated goroutines simply wait their turn.
package bridge
