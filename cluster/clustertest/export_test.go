package clustertest

// Unexported parts for the tests of package clustertest_test.
var (
	ConfigFromEnv = configFromEnv
	Marked        = marked
	Sweep         = sweep
)
