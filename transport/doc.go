// Package transport is grove's wire: framed msgpack messages over a
// connected socketpair, Unix domain sockets or TCP, multiplexed into
// flow-controlled streams. Everything that crosses a process boundary in
// grove goes through it; PROTOCOL.md in this directory is the byte-level
// specification, precise enough to write a peer in another language.
//
// A [Conn] is established by a handshake ([NewConn], [FileConn], [DialUnix],
// [DialTCP], or a [Listener]'s Accept) and then carries any number of
// concurrent [Stream]s, each one call of Tractor's dialog: a [KindCall]
// answered by [KindReturn] or [KindError], optionally with [KindStarted],
// [KindYield] and [KindStop] in between, in either direction.
//
// The guarantees:
//
//   - Sends are safe from many goroutines at once and are coalesced: frames
//     queued while a write is in progress go out together in one write
//     syscall. Nothing waits for a timer.
//   - Flow control is per stream: a sender may have at most the peer's
//     window of [KindYield] items outstanding ([DefaultWindow] unless the
//     peer announced another), so a fast producer blocks instead of
//     overrunning a slow consumer, and a stalled stream never stalls the
//     others on the same connection.
//   - Frames are checked against a size limit ([DefaultMaxFrame], per
//     connection) before anything is allocated, and every frame is
//     validated (structure, nesting depth) before it is decoded. Hostile
//     bytes give an error ([ErrFrameTooLarge], [ErrProtocol], [ErrHandshake])
//     and close that connection; they never panic.
//   - TCP always authenticates with a shared secret (HMAC challenge-response)
//     and optionally mutual TLS. Unix sockets live in a private directory, or
//     on Linux in the abstract namespace (a path that begins with '@'); on
//     Linux the peer's uid must match ours (SO_PEERCRED), and with
//     [WithSecret] both ends prove the secret as over TCP, before any
//     message is read.
//   - Every blocking call honours its ctx; [Conn.Close] unblocks everything
//     and returns only when the connection's goroutines have exited.
//
// A Call may carry [Metadata] beside its payload (a trace context, say),
// as gRPC's metadata and HTTP's headers do: set with [ContextWithMetadata]
// on the caller's side, read with [Stream.Metadata] on the callee's.
//
// Payloads stay raw msgpack ([msgpack.RawMessage]) until the receiver
// decodes them with [Message.Decode] into the type it expects.
//
// What transport knows of actors is data, never behaviour. Each side
// states its identity in its [Hello] ([WithIdentity]: an [ActorID], that is
// a name, a unique id, a pid and a host, and a free-form role); transport
// does not check it, and names it as the source of the errors it raises
// itself (a refused stream, a callee that closed without a result). A
// remote error's record ([ErrorInfo]) carries the actor it was raised in,
// the relay path of the actors that passed it on (Via, with the words each
// added) and, for a process that ended, its exit ([ExitInfo]): transport
// encodes, bounds and validates these fields and never acts on them.
// Spawning, supervision, names and the relaying itself belong to package
// actor: a [Conn] is one link between two peers, and never forwards a
// frame to a third.
package transport
