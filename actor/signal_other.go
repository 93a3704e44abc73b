//go:build js || wasip1

package actor

import "syscall"

func signalName(s syscall.Signal) string { return s.String() }
