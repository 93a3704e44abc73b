package bridge_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/grove-rt/grove/actor"
)

func TestMain(m *testing.M) {
	actor.Main() // the pool test spawns this binary as workers
	goleak.VerifyTestMain(m)
}
