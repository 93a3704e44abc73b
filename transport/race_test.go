//go:build race

package transport_test

// raceBuild is true in race-detector builds, where a handshake under load
// takes several times longer.
const raceBuild = true
