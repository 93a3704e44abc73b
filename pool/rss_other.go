//go:build !linux

package pool

// rss is not measured outside Linux: WithMaxMemory does nothing there.
func rss(int) int64 { return 0 }
