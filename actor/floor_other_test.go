//go:build !unix

package actor_test

import (
	"net"
	"os/exec"
	"testing"
)

// There are no processes here: the floors that need one are skipped.

const floorEnv = "GROVE_ACTOR_TEST_FLOOR"

func runFloor(string) int { return 2 }

func startFloor(b *testing.B, _ string) (net.Conn, *exec.Cmd) {
	b.Skip("needs a process to exec: processes cannot be spawned here")
	return nil, nil
}
