//go:build !linux

package cluster_test

// runParent has no root program to be here: TestRemoteParentKilled, which
// starts it, needs the Linux harness (clustertest's agents).
func runParent() int { return 2 }
