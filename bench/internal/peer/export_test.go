package peer

// NetRPCPID exposes the net/rpc child's pid to the external tests, which
// check that Close reaps it.
func NetRPCPID(r *NetRPC) int { return r.cmd.Process.Pid }

// LokyPID exposes the pid of a Loky's interpreter, also the id of its
// process group, to the external tests, which check that Close leaves no
// process of the group.
func LokyPID(l *Loky) int { return l.cmd.Process.Pid }
