// Package rss reads a process's resident set size, for pool's memory cap
// and actor's tree view: on Linux from /proc/PID/statm; elsewhere it is
// unknown (0).
package rss

import (
	"os"
	"strconv"
	"strings"
)

// Of returns the resident set size of process pid in bytes, or 0 if it
// cannot be read. It costs one read of /proc/PID/statm (a few µs).
func Of(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
