//go:build !linux

package clustertest

// The harness starts agents on Linux only: an agent's process dies with the
// test (Pdeathsig), and the sweep finds what is left through /proc. Here
// Cluster has no Agent method, and [AgentMain] has nothing to serve.

// Agent is a host agent's process, as started by Cluster.Agent on Linux.
type Agent struct{}

// AgentMain returns at once: no agent is started here.
func AgentMain() {}
