package clustertest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// envID is the environment variable that marks every process of a test
// cluster with the cluster's ID: agents get it in their environment
// (Cluster.AgentEnv) and pass it on to their children, so the sweep finds
// the whole tree, orphans included.
const envID = "GROVE_CLUSTERTEST"

// marked lists the processes, other than this one, whose environment holds
// envID=id or whose process group is one of groups (an agent's: actors
// spawned with actor.WithEnvOnly do not carry envID), zombies excluded.
// It reads /proc, so it finds nothing where there is none, and no
// environment of another user's.
func marked(id string, groups []int) []int {
	want := []byte(envID + "=" + id)
	self := os.Getpid()
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil || pid == self {
			continue
		}
		if inGroup(dir, groups) {
			pids = append(pids, pid)
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

// inGroup reports whether the process of /proc directory dir is alive (not
// a zombie) and in one of groups.
func inGroup(dir string, groups []int) bool {
	if len(groups) == 0 {
		return false
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return false
	}
	// pid (comm) state ppid pgrp ...: comm may hold spaces and parens.
	_, rest, ok := bytes.Cut(stat[bytes.LastIndexByte(stat, ')')+1:], []byte(" "))
	if !ok {
		return false
	}
	f := bytes.Fields(rest)
	if len(f) < 3 || string(f[0]) == "Z" {
		return false
	}
	pgrp, err := strconv.Atoi(string(f[2]))
	return err == nil && slices.Contains(groups, pgrp)
}

// sweepPoll is how often sweep looks again: another process's exit cannot
// be waited on unless it is a child.
const sweepPoll = 10 * time.Millisecond

// sweep waits up to grace for the processes of cluster id (and of its
// agents' process groups) to be gone, then kills the survivors with
// SIGKILL and returns them (nil if none was left).
func sweep(id string, groups []int, grace time.Duration) []int {
	deadline := time.Now().Add(grace)
	for {
		left := marked(id, groups)
		if len(left) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			for _, pid := range left {
				kill(pid)
			}
			return left
		}
		time.Sleep(sweepPoll)
	}
}

// kill SIGKILLs process pid (through os.Process, which every GOOS has).
func kill(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
		_ = p.Release()
	}
}
