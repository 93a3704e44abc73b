package clustertest

// Unexported parts for the tests of package clustertest_test.
var (
	ConfigFromEnv = configFromEnv
	Marked        = marked
	Sweep         = sweep
)

// Track makes pid's process group one of tc's agents' (as Agent does).
func Track(tc *Cluster, pid int) { tc.track(pid) }

// Left lists tc's processes still running, as the sweep finds them.
func Left(tc *Cluster) []int { return marked(tc.id, tc.tracked()) }
