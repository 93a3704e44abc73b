//go:build !unix

package actor_test

// There are no processes here, hence no helper programs.
func runHelper() (int, bool) { return 0, false }
