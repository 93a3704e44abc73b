package cluster

import "github.com/grove-rt/grove/cluster/natslink"

// QueueLogs feeds batches of output lines to a remote whose writer never
// runs, as its link's receiver does, and returns how many lines it
// queued and how many it dropped.
func QueueLogs(batches [][]string) (queued, dropped int) {
	r := &remote{wake: make(chan struct{}, 1)}
	for _, lines := range batches {
		r.onLog(natslink.Log{FD: 1, Lines: lines})
	}
	for _, l := range r.logs {
		queued += len(l.Lines)
	}
	return queued, r.dropped
}
