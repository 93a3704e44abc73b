package cluster_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/clustertest"
)

// envParent marks the root program of TestRemoteParentKilled (runParent).
const envParent = "CTEST_PARENT"

func TestMain(m *testing.M) {
	actor.Main()            // in a spawned actor: serve, then exit
	clustertest.AgentMain() // in a host agent: serve, then exit
	if os.Getenv(envParent) != "" {
		os.Exit(runParent()) // a root program for TestRemoteParentKilled
	}
	goleak.VerifyTestMain(m)
}
