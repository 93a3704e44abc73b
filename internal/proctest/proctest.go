// Package proctest helps tests that spawn processes check that none is left
// behind. It reads /proc, so it works on Linux; elsewhere it finds nothing.
package proctest

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stat returns the fields of /proc/pid/stat after the command name, which
// may hold spaces and parentheses: state is [0], the parent pid [1].
func stat(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// Children lists the child processes of pid, zombies included.
func Children(pid int) []int {
	var out []int
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range paths {
		f := stat(path)
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			p, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			out = append(out, p)
		}
	}
	return out
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	f := stat("/proc/" + strconv.Itoa(pid) + "/stat")
	return len(f) > 0 && f[0] != "Z"
}

// Gone waits up to d for every pid to be gone and returns the survivors.
func Gone(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		for _, p := range pids {
			if Alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || !time.Now().Before(deadline) {
			return left
		}
		// Another process's state cannot be waited on: poll it.
		time.Sleep(10 * time.Millisecond)
	}
}

// NoChildrenLeft makes t fail, when it ends, if this process has a child
// process left: no zombie, no orphan-to-be. Tests that use it must not run
// in parallel with tests that spawn processes.
func NoChildrenLeft(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		if left := Children(os.Getpid()); len(left) > 0 {
			t.Errorf("child processes left behind: %v", left)
		}
	})
}

// ProcessBackend reports whether actors are processes in this test run:
// not under GROVE_BACKEND=goroutine, nor where actors cannot be processes
// (js, wasip1, and, until grove supports them there, windows and plan9).
func ProcessBackend() bool {
	switch runtime.GOOS {
	case "js", "wasip1", "windows", "plan9":
		return false
	}
	return strings.ToLower(strings.TrimSpace(os.Getenv("GROVE_BACKEND"))) != "goroutine"
}

// NeedsProcesses skips a test that needs actors to be real processes,
// saying what it needs; go test counts it among the skips.
func NeedsProcesses(t testing.TB, what string) {
	t.Helper()
	if !ProcessBackend() {
		t.Skipf("needs %s: actors are goroutines here", what)
	}
}
