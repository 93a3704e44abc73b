package actor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"

	"github.com/grove-rt/grove/transport"
)

// A Process is an actor process of this host started by [StartProcess],
// with a raw link: what a host agent runs for a parent on another host,
// whose link it relays. It is started exactly as [Spawn] starts an actor's
// process (the same fork, reaping, death signal, pipes and progress page),
// without the handshake, which the remote parent runs over the relayed
// link.
type Process struct {
	id       transport.ActorID
	cmd      *exec.Cmd
	done     chan struct{} // closed once the process has been waited for
	waitErr  error
	progress progressReport // the dead process's page, read before done closes
	out      outputs
	linkFile *os.File // the parent's end of the socketpair, for startProcess's handshake
	link     net.Conn // the same, for StartProcess's caller
}

// StartProcess starts name as an actor process of this host with id as its
// id (a fresh one when id is ""), and returns once it is forked (fork and
// exec take a fraction of a millisecond), before the child's start and
// the handshake (the rest of [Spawn]'s few milliseconds): the caller
// relays [Process.Link] to the actor's parent, which runs the handshake
// as [transport.Initiator].
// The options of [Spawn] that concern the process apply (WithExecutable,
// WithArgs, WithEnv, WithEnvOnly, WithDir, WithOutput, WithStderr,
// WithLogger, WithCmd, and WithHost, which a host agent sets to its host);
// the actor's stdout and stderr lines are written whole, without a prefix (the
// parent adds its own), stdout to WithOutput's writer (this process's
// stderr by default) and stderr to WithStderr's (WithOutput's by
// default). The process gets SIGKILL if this process dies (Pdeathsig, on
// Linux), and EOF on its link if the link is closed, on which it exits
// within half a second. The caller owns the process: it must wait for it
// ([Process.Wait]), after closing the link or signalling it.
//
// Where actors cannot be processes (js, wasip1, and windows for now: see
// [Backend]), it fails with an error matching [errors.ErrUnsupported].
func StartProcess(ctx context.Context, name, id string, opts ...Option) (*Process, error) {
	if ctx == nil {
		return nil, errors.New("actor: StartProcess " + name + ": nil ctx: pass a ctx (or context.Background())")
	}
	if id == "" {
		id = newID()
	}
	cfg := newConfig(opts)
	p, err := startProc(ctx, transport.ActorID{Name: name, ID: id, Host: cfg.hostFor(ctx)}, &cfg, "")
	if err != nil {
		return nil, err
	}
	c, err := net.FileConn(p.linkFile)
	p.linkFile.Close()
	p.linkFile = nil
	if err != nil {
		p.signal(syscall.SIGKILL)
		_ = p.Wait()
		return nil, fmt.Errorf("actor: start %s: its link: %w", name, err)
	}
	p.link = c
	return p, nil
}

// Link returns the parent's end of the actor's link (a Unix socket), on
// which no handshake has run. The caller closes it.
func (p *Process) Link() net.Conn { return p.link }

// PID returns the process id.
func (p *Process) PID() int { return p.id.PID }

// Signal sends sig to the process and does not wait. A process that has
// been waited for gets nothing, and the error says so.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits until the process has exited and its output has been
// forwarded (for at most half a second after the exit: a process it
// started that holds its stderr open does not hold Wait), and returns nil
// for an exit with status 0, otherwise its [*ExitError] (without a Host:
// the process is of this host), with the tail of its stderr.
func (p *Process) Wait() error {
	<-p.done
	p.drain()
	res := p.result()
	if res.clean {
		return nil
	}
	return &ExitError{Actor: p.id, Code: res.code, Signal: res.sig, Stderr: res.stderr}
}

// The runner of a process of this host.

func (p *Process) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

func (p *Process) exited() <-chan struct{} { return p.done }

func (p *Process) drain() { p.out.await() }

func (p *Process) result() runResult {
	if p.waitErr == nil {
		return runResult{clean: true, stderr: p.out.tail.String()}
	}
	res := runResult{code: -1, stderr: p.out.tail.String()}
	var xe *exec.ExitError
	if errors.As(p.waitErr, &xe) {
		res.code = xe.ExitCode()
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.sig = ws.Signal()
		}
	}
	return res
}
