//go:build !unix

package actor

import "syscall"

func signalName(s syscall.Signal) string { return s.String() }
