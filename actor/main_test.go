package actor_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grove-rt/grove/actor"
)

func TestMain(m *testing.M) {
	actor.Main() // in a spawned actor: serve, then exit
	if mode := os.Getenv(floorEnv); mode != "" {
		os.Exit(runFloor(mode)) // a benchmark's bare peer
	}
	goleak.VerifyTestMain(m)
}

// children lists the live and zombie child processes of pid.
func children(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
			p, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			out = append(out, p)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// noChildrenLeft registers a check, at the end of the test, that the test
// binary has no child process left: no zombie, no orphan-to-be.
func noChildrenLeft(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		if left := children(os.Getpid()); len(left) > 0 {
			t.Errorf("child processes left behind: %v", left)
		}
	})
}

// gone waits up to d for every pid to be gone and reports the survivors.
func gone(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond) // polling another process's state: nothing to wait on
	}
}
