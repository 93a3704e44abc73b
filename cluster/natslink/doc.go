// Package natslink is a bearer for grove's wire over NATS: a [net.Conn]
// whose bytes travel on two NATS subjects, one per direction, so that
// transport.NewConn runs grove's framed-msgpack protocol over it unchanged.
//
// Core NATS delivers at most once and has no backpressure to the
// publisher; a [Link] adds what a byte stream needs on top: sequence
// numbers, in-order delivery with duplicates dropped and gaps nack'd and
// retransmitted, a byte window (the sender never has more than
// [Config.Window] unacknowledged bytes; Write blocks beyond it), a
// heartbeat that ends a silent link with a [*SilenceError], and an
// orderly close (fin). Two typed side-channel messages, [Log] and [Exit],
// carry a remote actor's output lines and exit status to its caller in
// the same ordered stream.
//
// The byte layout and rules are specified in transport/PROTOCOL.md,
// "Appendix: the natslink bearer", so that a peer in another language can
// implement it with its NATS client.
//
// Memory per link is bounded whatever the peer sends: at most Window bytes
// kept for retransmission, at most Window bytes of received data not yet
// read (a peer that overruns it ends the link with a [*ProtocolError]),
// and the NATS subscription's pending limit (2×Window + 1 MiB) before
// nats.go drops messages, which the link then sees as a gap and recovers.
package natslink
