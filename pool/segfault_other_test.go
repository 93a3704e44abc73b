//go:build unix && !linux

package pool_test

import "syscall"

// deathSignals are the signals a worker is killed with in the tests: not
// SIGSEGV here, where segfault has no portable way to reset the Go
// runtime's handler (a SIGSEGV sent to a Go program only makes it exit 2).
var deathSignals = []syscall.Signal{syscall.SIGKILL}

func segfault() { panic("pool tests: segfault needs Linux's rt_sigaction") }
