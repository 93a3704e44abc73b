// Package cluster runs grove's actors across hosts over NATS.
//
// It is a module of its own (github.com/grove-rt/grove/cluster) so that
// grove's core never depends on NATS: a program that spawns actors on one
// host imports only github.com/grove-rt/grove and its packages. The cluster
// module adds what crossing hosts needs: the bearer package natslink, a
// net.Conn over two NATS subjects on which grove's framed-msgpack wire
// (transport.NewConn) runs unchanged; the embedded NATS servers; and the
// join of a host to a cluster. See DESIGN.md, section "cluster", and
// transport/PROTOCOL.md, "Appendix: the natslink bearer".
package cluster
