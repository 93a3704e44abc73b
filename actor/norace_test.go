//go:build !race

package actor_test

// raceBuild is true in race-detector builds, whose actors cost ten times
// the memory.
const raceBuild = false
