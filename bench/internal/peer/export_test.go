package peer

// NetRPCPID exposes the net/rpc child's pid to the external tests, which
// check that Close reaps it.
func NetRPCPID(r *NetRPC) int { return r.cmd.Process.Pid }
