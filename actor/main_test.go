package actor_test

import (
	"os"
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
