package cluster_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/clustertest"
)

func TestMain(m *testing.M) {
	actor.Main()            // in a spawned actor: serve, then exit
	clustertest.AgentMain() // in a host agent: serve, then exit
	goleak.VerifyTestMain(m)
}
