//go:build unix

package main

import (
	"fmt"
	"io"
	"syscall"
)

// reaped reports, for each process, that it no longer exists: it has
// exited and its parent has waited for it.
func reaped(w io.Writer, procs []proc) error {
	for _, p := range procs {
		err := syscall.Kill(p.pid, 0)
		fmt.Fprintf(w, "   %s (pid %d): kill(pid, 0) = %v\n", p.name, p.pid, err)
		if err == nil {
			return fmt.Errorf("%s (pid %d) is still there", p.name, p.pid)
		}
	}
	return nil
}
