package actor_test

import (
	"os"
	"testing"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/leakcheck"
)

func TestMain(m *testing.M) {
	if code, ok := runHelper(); ok { // a helper program, some without Main
		os.Exit(code)
	}
	actor.Main() // in a spawned actor: serve, then exit
	if mode := os.Getenv(floorEnv); mode != "" {
		os.Exit(runFloor(mode)) // a benchmark's bare peer
	}
	leakcheck.Main(m)
}
