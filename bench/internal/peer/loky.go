package peer

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// lokyScript is the Python side of Loky, run with python -c.
//
//go:embed lokydriver.py
var lokyScript string

// PythonEnv names the environment variable that, when set, is the only
// Python interpreter FindLoky tries (a path or a name on PATH).
const PythonEnv = "GROVE_BENCH_PYTHON"

// lokyFallback is the interpreter tried after python3 on PATH: Debian's,
// where apt's python3-joblib puts joblib.externals.loky.
const lokyFallback = "/usr/bin/python3"

// lokyProbeTimeout bounds each interpreter's probe in FindLoky.
const lokyProbeTimeout = 20 * time.Second

// ErrNoLoky is matched (errors.Is) by the error FindLoky returns when no
// interpreter it tries imports loky; the error names the interpreters
// tried and how to install loky.
var ErrNoLoky = errors.New("peer: loky not found")

// LokyPython is a Python interpreter that imports loky.
type LokyPython struct {
	// Path is the interpreter, as found on PATH or given.
	Path string
	// Version is loky's version, Module where it came from ("loky", or
	// "joblib.externals.loky": the copy joblib vendors), Python the
	// interpreter's version.
	Version, Module, Python string
}

// String describes the interpreter in one line, for the report's header:
// "loky 3.3.0 (joblib.externals.loky) on /usr/bin/python3 3.11.2".
func (lp LokyPython) String() string {
	return fmt.Sprintf("loky %s (%s) on %s %s", lp.Version, lp.Module, lp.Path, lp.Python)
}

// FindLoky returns the first interpreter that imports loky, as the
// standalone package or as joblib's vendored copy: the one named by
// $GROVE_BENCH_PYTHON when that is set, else python3 on PATH, then
// /usr/bin/python3. Each probe starts the interpreter once (tens of
// milliseconds) and is bounded by ctx and by 20 seconds. When none imports
// loky the error matches ErrNoLoky and says how to install it.
func FindLoky(ctx context.Context) (LokyPython, error) {
	var tried []string
	candidates := []string{"python3", lokyFallback}
	if env := os.Getenv(PythonEnv); env != "" {
		candidates = []string{env}
	}
	seen := map[string]bool{}
	for _, c := range candidates {
		path, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c+" (not found)")
			continue
		}
		if seen[path] {
			continue
		}
		seen[path] = true
		lp, err := probeLoky(ctx, path)
		if err == nil {
			return lp, nil
		}
		if ctx.Err() != nil {
			return LokyPython{}, fmt.Errorf("peer: find loky: %w", ctx.Err())
		}
		tried = append(tried, path+" ("+err.Error()+")")
	}
	return LokyPython{}, fmt.Errorf("%w: no interpreter imports loky or joblib.externals.loky (tried %s); install it with `apt install python3-joblib` or `pip install loky`, or set %s to a Python that has it",
		ErrNoLoky, strings.Join(tried, ", "), PythonEnv)
}

// probeLoky runs the driver script's probe in interpreter path.
func probeLoky(ctx context.Context, path string) (LokyPython, error) {
	ctx, cancel := context.WithTimeout(ctx, lokyProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-c", lokyScript, "probe")
	stderr := newTailBuffer(1 << 10)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		if s := stderr.String(); s != "" {
			return LokyPython{}, errors.New(lastLine(s))
		}
		return LokyPython{}, err
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		return LokyPython{}, fmt.Errorf("bad probe output %q", out)
	}
	return LokyPython{Path: path, Version: f[0], Module: f[1], Python: f[2]}, nil
}

// lastLine returns the last line of s.
func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Loky is a Python interpreter driving loky's reusable executor
// (get_reusable_executor) over stdin/stdout with a line protocol, so that
// the executor stays warm between measurements. Workers start with loky's
// default start method (fork and exec of a fresh interpreter on POSIX).
// The times it reports are measured inside Python with
// time.perf_counter_ns, so they exclude the pipe round trip to Go. Every
// method blocks until Python answers.
//
// A Loky is safe for concurrent use; commands run one at a time.
type Loky struct {
	*script
	// Python is the interpreter it runs on.
	Python LokyPython
}

// StartLoky starts the embedded driver script in lp, an interpreter
// FindLoky found, returning once loky is imported (a few hundred
// milliseconds). No executor exists until the first command. It blocks
// until ready or until ctx is done; ctx bounds the start only. On error no
// process is left behind. The caller must Close the returned Loky; Close
// closes the script's stdin, upon which it shuts the executor down,
// killing its workers, and exits.
func StartLoky(ctx context.Context, lp LokyPython) (*Loky, error) {
	if lp.Path == "" {
		return nil, errors.New("peer: start loky: no interpreter: call FindLoky for one")
	}
	s, err := startScript(ctx, "loky", lp.Path, lokyScript)
	if err != nil {
		return nil, err
	}
	return &Loky{script: s, Python: lp}, nil
}

// Spawn returns the time from no executor to the first result: a fresh
// get_reusable_executor(max_workers=workers) and its first
// submit(noop, 0).result(). Any executor is shut down, its workers killed,
// before that time, and the new one after it.
func (l *Loky) Spawn(workers int) (time.Duration, error) {
	return l.timed("spawn", workers)
}

// Submit returns the time n sequential executor.submit(noop, i).result()
// round trips took on the executor of workers workers. The executor is
// warmed first, outside the time, when it is new or resized.
func (l *Loky) Submit(n, workers int) (time.Duration, error) {
	return l.timed("submit", n, workers)
}

// Map returns the time list(executor.map(noop, range(n),
// chunksize=chunk)) took on the executor of workers workers, warmed first
// like Submit's.
func (l *Loky) Map(n, workers, chunk int) (time.Duration, error) {
	return l.timed("map", n, workers, chunk)
}

// A LokyCrash is what Crash measured.
type LokyCrash struct {
	// Recovery is the time from the submit of the task that ends its
	// worker until a task submitted once the crash was reported (from
	// get_reusable_executor again, which respawns the broken executor)
	// has its result.
	Recovery time.Duration
	// Failed is how many of the other tasks in flight failed with the
	// crash.
	Failed int
}

// Crash submits, on the warm executor of workers workers, a task that ends
// its worker with os._exit(3), then others tasks that sleep 200 ms each,
// and measures the recovery: loky breaks the whole executor (every pending
// future fails with TerminatedWorkerError) and the next
// get_reusable_executor starts a new one. It blocks until the others have
// answered too.
func (l *Loky) Crash(workers, others int) (LokyCrash, error) {
	out, err := l.command(2, "crash", workers, others)
	if err != nil {
		return LokyCrash{}, err
	}
	return LokyCrash{Recovery: time.Duration(out[0]), Failed: int(out[1])}, nil
}
