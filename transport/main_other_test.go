//go:build !unix

package transport_test

import (
	"testing"

	"github.com/grove-rt/grove/internal/leakcheck"
)

// TestMain checks for leaks where the socket tests (built only on unix,
// which has socketpairs) are left out, as under GOOS=js.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
