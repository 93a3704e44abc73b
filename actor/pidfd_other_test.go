//go:build unix && !linux

package actor_test

// There are no pidfds here: the helper that has them refused is Linux's.
func spawnWithPidfdRefused() int { return 2 }
