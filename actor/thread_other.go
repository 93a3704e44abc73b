//go:build !linux

package actor

import "syscall"

// lockThread does nothing where there is no Pdeathsig; the child's watch on
// its link (EOF when the parent dies) is the guard there.
func lockThread() {}

func sysProcAttr() *syscall.SysProcAttr { return nil }
