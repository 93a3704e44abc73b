// Package peer starts and drives the competitors grove is benchmarked
// against: a hashicorp/go-plugin plugin speaking gRPC, the standard
// library's net/rpc served by a child process over a socketpair, and two
// Python pools kept warm behind a line protocol: a python3
// multiprocessing.Pool, and loky's reusable executor on whichever
// interpreter has loky (FindLoky).
//
// The Go peers are this same executable re-executed: the child recognises
// itself from its environment in ChildMain, which every main() and TestMain
// using this package must call first. Every peer owns real processes; Close
// releases them, and no goroutine or process started by a peer outlives its
// Close.
package peer

import (
	"os"
	"strings"
	"sync"
)

// Environment variables that turn a re-executed binary into a peer child.
const (
	// netRPCEnv selects the net/rpc child; its value must be netRPCValue.
	netRPCEnv   = "GROVE_BENCH_PEER"
	netRPCValue = "netrpc"
)

// ChildMain serves and exits (os.Exit) when this process was started as a
// peer child: a go-plugin plugin, detected by go-plugin's magic cookie
// environment variable (GROVE_BENCH_PLUGIN), or the net/rpc server, detected
// by GROVE_BENCH_PEER=netrpc. A child blocks serving until its parent shuts
// it down or closes the connection (a plugin child also leaves when the
// lifeline pipe its parent passes as fd 3 reaches EOF), then exits without
// returning. In any other process
// ChildMain returns at once after two environment look-ups.
//
// main() of the benchmark binary, and TestMain of tests, call it first,
// before flag parsing or any other work.
func ChildMain() {
	switch {
	case os.Getenv(handshake.MagicCookieKey) == handshake.MagicCookieValue:
		servePlugin()
		os.Exit(0)
	case os.Getenv(netRPCEnv) == netRPCValue:
		os.Exit(serveNetRPC())
	}
}

// childEnv returns this process's environment without the variables that
// select a peer child, so that a child is only ever the peer it was started
// as.
func childEnv() []string {
	env := os.Environ()
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, handshake.MagicCookieKey+"=") || strings.HasPrefix(kv, netRPCEnv+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// tailBuffer is an io.Writer keeping the last max bytes written to it, used
// to capture a child's stderr for error messages without unbounded growth.
// It is safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

// Write appends p, dropping the oldest bytes beyond the bound. It never fails.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the retained bytes, trimmed of surrounding white space.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// withStderr appends captured stderr to an error message when there is any.
func withStderr(t *tailBuffer) string {
	if s := t.String(); s != "" {
		return " (stderr: " + s + ")"
	}
	return ""
}
