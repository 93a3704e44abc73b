package peer

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// scriptExitGrace bounds how long Close waits for a script's interpreter
// to leave on its own after stdin is closed before it kills the
// interpreter and its workers.
const scriptExitGrace = 10 * time.Second

// script is a Python interpreter running a driver script (python -c) in a
// process group of its own, driven over stdin/stdout with a line protocol:
// the script writes "ready" once set up, then answers each command line
// with "ok" and integers or "err" and a message. It is the machinery that
// Python and Loky share.
//
// A script is safe for concurrent use; commands run one at a time.
type script struct {
	name   string // in error messages: "python", "loky"
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *os.File // the read end of stdout, closed by Close
	stdout *bufio.Reader
	stderr *tailBuffer
	// exited is closed by the goroutine that waits for the interpreter
	// (started with it, joined by Close) once waitErr is set: the process
	// is reaped and its stderr copied.
	exited  chan struct{}
	waitErr error

	mu        sync.Mutex // serialises commands and Close
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// protocolScript is the line protocol's Python side, put in front of each
// driver's source: serve(handle).
//
//go:embed lineproto.py
var protocolScript string

// startScript starts interpreter running src, behind protocolScript, with
// args, and waits for its "ready" line. It blocks until ready or until ctx is done; ctx bounds the
// start only. On error no process is left behind. The caller must Close
// the returned script.
func startScript(ctx context.Context, name, interpreter, src string, args ...string) (*script, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("peer: start %s: %w", name, err)
	}
	cmd := exec.Command(interpreter, append([]string{"-c", protocolScript + "\n" + src}, args...)...)
	// Own process group, so that a forced stop reaches the workers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Workers that outlive the interpreter would hold the stderr pipe
	// open; do not let that stall Wait.
	cmd.WaitDelay = time.Second
	stderr := newTailBuffer(4 << 10)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("peer: start %s: %w", name, err)
	}
	// A pipe of our own rather than StdoutPipe, which Wait would close
	// under a reply not yet read.
	out, w, err := os.Pipe()
	if err != nil {
		_ = stdin.Close()
		return nil, fmt.Errorf("peer: start %s: %w", name, err)
	}
	cmd.Stdout = w
	err = cmd.Start()
	_ = w.Close()
	if err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("peer: start %s: %w", name, err)
	}
	s := &script{name: name, cmd: cmd, stdin: stdin, out: out, stdout: bufio.NewReader(out), stderr: stderr, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	ready := make(chan error, 1)
	go func() {
		line, err := s.readLine()
		if err == nil && line != "ready" {
			err = fmt.Errorf("unexpected line %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		s.kill() // the reader sees EOF
		<-ready
		err = ctx.Err()
	}
	if err != nil {
		s.kill()
		_ = s.Close()
		return nil, fmt.Errorf("peer: start %s: %w%s", name, err, withStderr(stderr))
	}
	return s, nil
}

// command sends the command op with its numbers and returns the numbers
// of the "ok" reply, at least want of them. It blocks until the script
// answers.
func (s *script) command(want int, op string, args ...int) ([]int64, error) {
	what := s.name + " " + op
	for _, a := range args {
		if a < 0 {
			return nil, fmt.Errorf("peer: %s: argument %d, want >= 0", what, a)
		}
	}
	line := op
	for _, a := range args {
		line += " " + strconv.Itoa(a)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("peer: %s: closed", what)
	}
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		return nil, fmt.Errorf("peer: %s: write: %w%s", what, err, withStderr(s.stderr))
	}
	reply, err := s.readLine()
	if err != nil {
		// The script closed stdout: it is exiting. Wait, briefly, for its
		// status and the last of its stderr, which say why.
		s.awaitExit(time.Second)
		status := ""
		if s.waitErr != nil {
			status = " (" + s.waitErr.Error() + ")"
		}
		return nil, fmt.Errorf("peer: %s: read: %w%s%s", what, err, status, withStderr(s.stderr))
	}
	word, rest, _ := strings.Cut(reply, " ")
	switch word {
	case "ok":
		fields := strings.Fields(rest)
		if len(fields) < want {
			return nil, fmt.Errorf("peer: %s: bad reply %q: want %d numbers", what, reply, want)
		}
		out := make([]int64, len(fields))
		for i, f := range fields {
			if out[i], err = strconv.ParseInt(f, 10, 64); err != nil {
				return nil, fmt.Errorf("peer: %s: bad reply %q: %w", what, reply, err)
			}
		}
		return out, nil
	case "err":
		return nil, fmt.Errorf("peer: %s: %s", what, rest)
	default:
		return nil, fmt.Errorf("peer: %s: bad reply %q", what, reply)
	}
}

// timed runs a command whose reply is a time in nanoseconds.
func (s *script) timed(op string, args ...int) (time.Duration, error) {
	out, err := s.command(1, op, args...)
	if err != nil {
		return 0, err
	}
	return time.Duration(out[0]), nil
}

// readLine reads one line of the script's stdout, without its newline.
func (s *script) readLine() (string, error) {
	line, err := s.stdout.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// awaitExit waits until the interpreter has exited, for at most grace
// before it kills the interpreter's process group and waits for that.
func (s *script) awaitExit(grace time.Duration) {
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
		s.kill()
		<-s.exited
	}
}

// kill stops the interpreter and its workers at once with SIGKILL to the
// process group.
func (s *script) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}

// Close closes the script's stdin; the script then stops its workers and
// exits. Close waits for the interpreter to exit, which normally takes a
// few milliseconds; should it not have exited after 10 seconds, Close
// kills its process group and waits for that. Then it kills whatever is
// left of the group. It also waits for a command in progress to finish. Close is idempotent; later calls return the first
// call's result.
func (s *script) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		_ = s.stdin.Close()

		s.awaitExit(scriptExitGrace)
		// What is left of the group, such as loky's resource tracker,
		// which leaves only once it reads EOF after the interpreter has
		// exited, goes now. (Linux hands out pids in a cycle, so the
		// group id of the leader just reaped names no other group.)
		s.kill()
		_ = s.out.Close()
		err := s.waitErr
		if err != nil {
			s.closeErr = fmt.Errorf("peer: close %s: %w%s", s.name, err, withStderr(s.stderr))
		}
	})
	return s.closeErr
}
