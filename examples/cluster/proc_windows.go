package main

import (
	"syscall"
	"time"
)

// sysProcAttr puts an agent in a process group of its own, Windows' kind:
// a Ctrl-C goes to this program, which stops the agents in order. (The
// demo builds here; its agents cannot spawn process actors here yet.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// processesLeft cannot look for processes without /proc.
func processesLeft(run string, wait time.Duration) (left []int, checked bool) { return nil, false }
