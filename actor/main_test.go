package actor_test

import (
	"os"
	"runtime"
	"strings"
	"testing"

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

// processBackend reports whether the tests' actors are processes: not
// under GROVE_BACKEND=goroutine, nor where processes cannot be spawned.
func processBackend() bool {
	b := strings.ToLower(os.Getenv("GROVE_BACKEND"))
	return b != "goroutine" && runtime.GOOS != "js" && runtime.GOOS != "wasip1"
}

// needsProcesses skips a test that needs actors to be real processes,
// saying what it needs.
func needsProcesses(t *testing.T, what string) {
	t.Helper()
	if !processBackend() {
		t.Skipf("needs %s: actors are goroutines here", what)
	}
}
