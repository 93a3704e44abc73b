package clustertest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// envID is the environment variable that marks every process of a test
// cluster with the cluster's ID: agents get it in their environment
// (Cluster.AgentEnv) and pass it on to their children, so the sweep finds
// the whole tree, orphans included.
const envID = "GROVE_CLUSTERTEST"

// marked lists the processes, other than this one, whose environment holds
// envID=id, zombies excluded (their environment is gone). It reads /proc,
// so it finds nothing where there is none, and nothing of another user's.
func marked(id string) []int {
	want := []byte(envID + "=" + id)
	self := os.Getpid()
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// sweepPoll is how often sweep looks again: another process's exit cannot
// be waited on unless it is a child.
const sweepPoll = 10 * time.Millisecond

// sweep waits up to grace for the processes of cluster id to be gone,
// then kills the survivors with SIGKILL and returns them (nil if none
// was left).
func sweep(id string, grace time.Duration) []int {
	deadline := time.Now().Add(grace)
	for {
		left := marked(id)
		if len(left) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return left
		}
		time.Sleep(sweepPoll)
	}
}
