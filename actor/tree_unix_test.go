//go:build unix

package actor_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// stopProcess hangs a process with SIGSTOP, and returns once it is stopped
// (on Linux, where /proc says; a signal is delivered asynchronously);
// continueProcess resumes it.
func stopProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil { // no /proc: trust the signal
			return nil
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "T" {
			return nil
		}
		// Another process's state cannot be waited on: poll it.
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("process %d did not stop within 5 s of SIGSTOP", pid)
}

func continueProcess(pid int) error { return syscall.Kill(pid, syscall.SIGCONT) }
