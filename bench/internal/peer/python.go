package peer

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// poolScript is the Python side of Python, run with python3 -c.
//
//go:embed pool.py
var poolScript string

// ErrNoPython is matched (errors.Is) by the error StartPython returns when
// python3 is not on PATH.
var ErrNoPython = errors.New("peer: python3 not found")

// pythonExitGrace bounds how long Close waits for python3 to leave on its
// own after stdin is closed before it kills python3 and its workers.
const pythonExitGrace = 10 * time.Second

// Python is a python3 process holding a multiprocessing.Pool of worker
// processes (fork start method where available), driven over stdin/stdout
// with a line protocol so that the pool stays warm between measurements.
// The times it reports are measured inside Python with
// time.perf_counter_ns, so they exclude the pipe round trip to Go.
//
// A Python is safe for concurrent use; commands run one at a time.
type Python struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailBuffer

	mu        sync.Mutex // serialises commands and Close
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// StartPython starts python3 running the embedded pool script with a pool of
// workers processes, and waits for its "ready" line, written once the pool
// is created and warmed by one map over a few items. That costs the
// interpreter start-up plus forking the workers, typically 50 to 200 ms.
//
// It blocks until ready or until ctx is done; ctx bounds the start only, not
// the life of the pool. When python3 is not on PATH it returns an error
// matching ErrNoPython. On error no process is left behind. The caller must
// Close the returned Python.
func StartPython(ctx context.Context, workers int) (*Python, error) {
	if workers < 1 {
		return nil, fmt.Errorf("peer: start python: workers = %d, want >= 1", workers)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("peer: start python: %w", err)
	}
	path, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoPython, err)
	}

	cmd := exec.Command(path, "-c", poolScript, strconv.Itoa(workers))
	// Own process group, so that a forced stop reaches the workers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Workers that outlive python3 would hold the stderr pipe open; do not
	// let that stall Wait.
	cmd.WaitDelay = time.Second
	stderr := newTailBuffer(4 << 10)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("peer: start python: %w", err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("peer: start python: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peer: start python: %w", err)
	}
	p := &Python{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdoutPipe), stderr: stderr}

	ready := make(chan error, 1)
	go func() {
		line, err := p.readLine()
		if err == nil && line != "ready" {
			err = fmt.Errorf("unexpected line %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		p.kill() // the reader sees EOF
		<-ready
		err = ctx.Err()
	}
	if err != nil {
		p.kill()
		_ = p.Close()
		return nil, fmt.Errorf("peer: start python: %w%s", err, withStderr(stderr))
	}
	return p, nil
}

// Map returns the time pool.map(noop, range(n)) took with the default
// chunksize, where noop is `def noop(x): return x`. It blocks until Python
// answers, which is about that time plus a pipe round trip.
func (p *Python) Map(n int) (time.Duration, error) {
	return p.command("map", n)
}

// Apply returns the time n sequential pool.apply(noop, (i,)) calls took,
// each a full round trip to a worker. It blocks until Python answers.
func (p *Python) Apply(n int) (time.Duration, error) {
	return p.command("apply", n)
}

func (p *Python) command(name string, n int) (time.Duration, error) {
	if n < 0 {
		return 0, fmt.Errorf("peer: python %s: n = %d, want >= 0", name, n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, fmt.Errorf("peer: python %s: closed", name)
	}
	if _, err := fmt.Fprintf(p.stdin, "%s %d\n", name, n); err != nil {
		return 0, fmt.Errorf("peer: python %s: write: %w%s", name, err, withStderr(p.stderr))
	}
	line, err := p.readLine()
	if err != nil {
		return 0, fmt.Errorf("peer: python %s: read: %w%s", name, err, withStderr(p.stderr))
	}
	switch word, rest, _ := strings.Cut(line, " "); word {
	case "ok":
		ns, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("peer: python %s: bad reply %q: %w", name, line, err)
		}
		return time.Duration(ns), nil
	case "err":
		return 0, fmt.Errorf("peer: python %s: %s", name, rest)
	default:
		return 0, fmt.Errorf("peer: python %s: bad reply %q", name, line)
	}
}

// readLine reads one line of the script's stdout, without its newline.
func (p *Python) readLine() (string, error) {
	line, err := p.stdout.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// kill stops python3 and its pool workers at once with SIGKILL to the
// process group.
func (p *Python) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// Close closes python3's stdin; the script then terminates the pool
// (pool.terminate(); pool.join()) and exits. Close waits for python3 to
// exit, which normally takes a few milliseconds; should it not have exited
// after 10 seconds, Close kills its process group and waits for that. It
// also waits for a command in progress to finish. Close is idempotent;
// later calls return the first call's result.
func (p *Python) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.closed = true
		_ = p.stdin.Close()

		waited := make(chan error, 1)
		go func() { waited <- p.cmd.Wait() }()
		timer := time.NewTimer(pythonExitGrace)
		defer timer.Stop()
		var err error
		select {
		case err = <-waited:
		case <-timer.C:
			p.kill()
			err = <-waited
		}
		if err != nil {
			p.closeErr = fmt.Errorf("peer: close python: %w%s", err, withStderr(p.stderr))
		}
	})
	return p.closeErr
}
