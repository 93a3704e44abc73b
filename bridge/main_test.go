package bridge_test

import (
	"testing"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/leakcheck"
)

func TestMain(m *testing.M) {
	actor.Main() // the pool test spawns this binary as workers
	leakcheck.Main(m)
}
