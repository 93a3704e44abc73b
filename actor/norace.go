//go:build !race

package actor

// raceEnabled is true in race-detector builds.
const raceEnabled = false
