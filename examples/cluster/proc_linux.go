//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// sysProcAttr puts an agent in a process group of its own (a Ctrl-C goes
// to this program, which stops the agents in order) and has it killed if
// this program dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// processesLeft looks through /proc, for up to wait, for processes other
// than this one whose environment marks them as run's (agents and their
// actors), and returns those still there. checked is false where there is
// no /proc.
func processesLeft(run string, wait time.Duration) (left []int, checked bool) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		return nil, false
	}
	deadline := time.Now().Add(wait)
	for {
		left = marked(run)
		if len(left) == 0 || time.Now().After(deadline) {
			return left, true
		}
		// Another host's processes cannot be waited on: look again.
		time.Sleep(10 * time.Millisecond)
	}
}

// marked lists the processes, other than this one, whose environment holds
// envRun=run (zombies have none).
func marked(run string) []int {
	want := []byte(envRun + "=" + run)
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil || pid == os.Getpid() {
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
