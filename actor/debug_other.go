//go:build !unix

package actor

// processExists cannot be told without Unix signals: the dial says.
func processExists(int) error { return nil }
