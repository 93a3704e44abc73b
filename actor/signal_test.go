package actor_test

import (
	"os"
	"os/signal"
)

func signalIgnore(sig os.Signal) { signal.Ignore(sig) }

// sigkill kills process pid from outside, as the OOM killer would: SIGKILL
// on Unix, through os.Process so that the tests build on every GOOS.
func sigkill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	return p.Kill()
}
