// Package leakcheck is the TestMain of every grove test package: it runs
// the tests and fails if any goroutine outlives them, as goleak does, on
// every platform grove builds for.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// Main runs the tests with goleak. Under GOOS=js the runtime keeps a
// goroutine of its own waiting for JavaScript events
// (runtime.handleEvent); it is not the tests', so it is ignored.
func Main(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}
