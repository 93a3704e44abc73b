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
//
// DESIGN.md in the repository explains the architecture and its rules.
package grove
