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
//     a stream sent).
//   - "grove.pool.task FN" (internal): a pool task (a Submit, or one batch
//     of a Map) from its submission to its end; its call to the worker is
//     its child.
//   - "grove.supervise.restart CHILD" (internal): a supervisor's restart
//     of a child, until the child has started again.
//
// A failure is recorded on its span with span.RecordError, the status
// Error, and error.type: the remote error's type for a [*actor.RemoteError]
// (so a failing leaf names the same type on its span and on every
// parent's), else the Go type ([actor.ErrorType]).
//
// # Metrics
//
//   - grove.calls (counter): calls ended, by rpc.method, grove.call.side
//     and error.type.
//   - grove.call.duration (histogram, seconds): their latency.
//   - grove.actors.live (up-down counter): actors this process spawned
//     that are running, by grove.backend.
//   - grove.stream.items (counter): stream items received or sent.
//   - grove.pool.queue.depth (gauge): tasks queued in this process's
//     pools.
//   - grove.pool.worker.deaths (counter): pool workers that died.
//   - grove.supervise.restarts (counter): children restarted.
//
// OpenTelemetry is this module's dependency only: grove's own module
// imports none of it, and calls through the hook otelgrove registers
// ([actor.SetInstrumentation]), which costs one atomic load when none is.
package otelgrove
