package peer

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// poolScript is the Python side of Python, run with python3 -c.
//
//go:embed pool.py
var poolScript string

// ErrNoPython is matched (errors.Is) by the error StartPython returns when
// python3 is not on PATH.
var ErrNoPython = errors.New("peer: python3 not found")

// Python is a python3 process holding a multiprocessing.Pool of worker
// processes (fork start method where available), driven over stdin/stdout
// with a line protocol so that the pool stays warm between measurements.
// The times it reports are measured inside Python with
// time.perf_counter_ns, so they exclude the pipe round trip to Go.
//
// A Python is safe for concurrent use; commands run one at a time.
type Python struct {
	*script
}

// StartPython starts python3 running the embedded pool script with a pool of
// workers processes, and waits for its "ready" line, written once the pool
// is created and warmed by one map over a few items. That costs the
// interpreter start-up plus forking the workers, typically 50 to 200 ms.
//
// It blocks until ready or until ctx is done; ctx bounds the start only, not
// the life of the pool. When python3 is not on PATH it returns an error
// matching ErrNoPython. On error no process is left behind. The caller must
// Close the returned Python; Close closes python3's stdin, upon which the
// script terminates the pool (pool.terminate(); pool.join()) and exits.
func StartPython(ctx context.Context, workers int) (*Python, error) {
	if workers < 1 {
		return nil, fmt.Errorf("peer: start python: workers = %d, want >= 1", workers)
	}
	path, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoPython, err)
	}
	s, err := startScript(ctx, "python", path, poolScript, strconv.Itoa(workers))
	if err != nil {
		return nil, err
	}
	return &Python{s}, nil
}

// Map returns the time pool.map(noop, range(n)) took with the default
// chunksize, where noop is `def noop(x): return x`. It blocks until Python
// answers, which is about that time plus a pipe round trip.
func (p *Python) Map(n int) (time.Duration, error) {
	return p.timed("map", n)
}

// Apply returns the time n sequential pool.apply(noop, (i,)) calls took,
// each a full round trip to a worker. It blocks until Python answers.
func (p *Python) Apply(n int) (time.Duration, error) {
	return p.timed("apply", n)
}

// Spawn returns the time a new multiprocessing.Pool of workers processes
// (a context of its own, beside the warm pool) took to its first
// pool.apply(noop, (0,)) result; the new pool is terminated and joined
// outside that time. It blocks until Python answers, tens of milliseconds.
func (p *Python) Spawn(workers int) (time.Duration, error) {
	if workers < 1 {
		return 0, fmt.Errorf("peer: python spawn: workers = %d, want >= 1", workers)
	}
	return p.timed("spawn", workers)
}
