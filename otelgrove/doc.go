// Package otelgrove instruments grove with OpenTelemetry: one [Install]
// in main, before actor.Main, and every spawn, call, stream, pool task and
// supervisor restart of the process is traced and measured, with the W3C
// trace context carried on each Call's metadata
// ([transport.ContextWithMetadata]) so that a trace crosses processes (and
// hosts: a remote actor's link carries the Call frames unchanged).
//
// It follows the OpenTelemetry contrib instrumentations (otelhttp,
// otelgrpc): the global providers unless [WithTracerProvider],
// [WithMeterProvider] or [WithPropagators] say otherwise; the scope
// [ScopeName]; OpenTelemetry's rpc.system ("grove"), rpc.method (the
// function's name) and error.type, and grove's own attributes under
// "grove." ([ActorNameKey] and the others).
//
// # Spans
//
//   - "grove.spawn" (internal): a Spawn, from its start to the
//     handshake, with the actor's name, id, pid, host and backend (the
//     name is not in the span's: a pool's workers have names without end).
//   - the function's name, SpanKindClient: a call on the caller's side,
//     until its answer (a stream's or duplex's until it ends, with
//     grove.stream.items received); grove.call.kind says which form.
//   - the function's name, SpanKindServer: its serving in the actor, a
//     child of the client span, until the answer is sent (with the items
//     a stream sent). A call of a function the actor never registered
//     gets one too, ended at once with error.type
//     "actor.ErrUnknownFunction".
//   - "grove.pool.task FN" (internal): a pool task (a Submit, or one batch
//     of a Map) from its submission to its end; its call to the worker is
//     its child.
//   - "grove.supervise.restart" (internal): a supervisor's restart of a
//     child, until the child has started again, with the child's name and
//     restart count (the name is not in the span's: StartChild's children
//     may be named by an id).
//
// The trace context never fails a call: when W3C baggage (up to 8192
// bytes) would take a Call's metadata over its bound
// ([transport.MaxMetadataBytes]), the baggage is left off that Call, with
// an event on the client span saying so.
//
// A failure is recorded on its span with span.RecordError, the status
// Error, and error.type: the remote error's type for a [*actor.RemoteError]
// (so a failing leaf names the same type on its span and on every
// parent's), else the Go type ([actor.ErrorType]).
//
// # Metrics
//
//   - grove.calls (counter): calls ended, by rpc.system, rpc.method,
//     grove.call.side and error.type. A call of a function the actor has
//     not registered counts as rpc.method "_OTHER" (OpenTelemetry's name
//     for a method not known): a caller may send any name.
//   - grove.call.duration (histogram, seconds): their latency, in
//     buckets from 100µs to 10s (the SDK's default ones are for
//     milliseconds).
//   - grove.actors.live (up-down counter): actors this process spawned
//     that are running, by grove.backend.
//   - grove.stream.items (counter): stream items received or sent.
//   - grove.pool.queue.depth (gauge): tasks queued in this process's
//     pools.
//   - grove.pool.worker.deaths (counter): pool workers that died.
//   - grove.supervise.restarts (counter): children restarted (by no
//     child's name, for the same reason).
//
// No metric has an attribute of unbounded cardinality: no actor's id or
// pid, no child's name, never an error's text (error.type is a type's or
// a sentinel's name, [actor.ErrorType]).
//
// # Cost
//
// Measured by internal/callbench (every span sampled, a span processor
// that keeps none, a manual metric reader) against actor's and pool's
// untraced benchmarks, interleaved, -count 6 (medians; the runs spread
// by about ±15%), on a shared 2-core VM (load 6 to 12), Go 1.26: a unary
// call to a process actor takes about 41µs traced against 26µs (×1.6),
// and 16 allocations (3.6 KB) on the caller's side against 3 (the
// actor's side is in its process); on the
// goroutine backend, both sides in one process, about 18µs against 6µs
// (×3) and 45 allocations against 11. A pool Submit: about 50µs against
// 38µs (×1.3), 41 allocations against 22; on goroutines 23µs against
// 8µs, 69 against 29. A stream item costs about nothing more (its span
// is the stream's; an item is an atomic add, recorded once at the
// stream's end): ×0.95 to ×1.01, no allocation. What remains is mostly
// the SDK's (a span, its options and its attributes' snapshot) and the
// map of metadata a Call carries; the attribute sets of the call metrics
// and a pool task's span name are built once per function.
//
// OpenTelemetry is this module's dependency only: grove's own module
// imports none of it, and calls through the hook otelgrove registers
// ([actor.SetInstrumentation]), which costs one atomic load when none is.
package otelgrove
