//go:build unix && !linux

package main

import (
	"syscall"
	"time"
)

// sysProcAttr puts an agent in a process group of its own: a Ctrl-C goes
// to this program, which stops the agents in order.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// processesLeft cannot look for processes without /proc.
func processesLeft(run string, wait time.Duration) (left []int, checked bool) { return nil, false }
