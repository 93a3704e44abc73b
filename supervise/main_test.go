package supervise_test

import (
	"context"
	"os"
	"testing"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/leakcheck"
)

func TestMain(m *testing.M) {
	actor.Main() // ActorChild's actors are this test binary, re-executed
	leakcheck.Main(m)
}

// pid answers with the actor's process id.
var pid = actor.Func("supervisetest.pid", func(ctx context.Context, _ int) (int, error) { return os.Getpid(), nil })

// crash ends the actor's process with status 3.
var crash = actor.Func("supervisetest.crash", func(ctx context.Context, _ int) (int, error) {
	os.Exit(3)
	return 0, nil
})
