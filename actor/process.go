//go:build unix

package actor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/grove-rt/grove/transport"
)

// serveParent is Main in a spawned actor process: it serves the link on
// file descriptor 3 until it is stopped or the parent goes away.
func serveParent() int {
	signal.Ignore(os.Interrupt)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	sv := newServer(withProgress(context.Background(), openProgress()), self)
	mainServer.Store(sv)
	defer sv.cancel(errParentGone)

	link := os.NewFile(linkFD, "grove-link")
	conn, err := transport.FileConn(sv.root, link, transport.Responder,
		transport.WithIdentity(self, "child"), transport.WithHandler(sv.handle), transport.WithBaseContext(sv.root))
	if err != nil {
		// A parent that went away during the spawn (it was cancelled) needs
		// no report; anything else does.
		if !transport.PeerGone(err) {
			fmt.Fprintf(os.Stderr, "actor %s: handshake with the parent failed: %v\n", self, err)
		}
		return 2
	}
	sv.setLink(conn)
	// A stop message cancels the calls and lets them answer, for the grace
	// period the parent gives before SIGTERM. SIGTERM (the parent's next
	// step, or someone else's) or the parent's death cancel them too, but
	// then the actor exits soon whether they answered or not.
	var exitBy <-chan struct{} // the actor exits by then, answered or not
	code := 0
	select {
	case <-sv.root.Done():
		sv.settle(errTerminated, after(sv.gracePeriod()), term, conn.Done())
	case <-term:
		exitBy = after(orphanExit)
		sv.settle(errTerminated, exitBy, nil, conn.Done())
	case <-conn.Done():
		sv.cancel(errParentGone)
		if err := conn.Err(); !transport.PeerGone(err) {
			// Not the parent going away: this side's link failed (a frame
			// it could not read). Say so, and do not pass for a clean exit.
			fmt.Fprintf(os.Stderr, "actor %s: the link to the parent failed: %v\n", self, err)
			code = 1
		}
	}
	if exitBy == nil {
		exitBy = after(orphanExit)
	}
	// Every close is bounded by exitBy: a call that ignores its ctx, the
	// parent's or a peer's, must not keep the process from exiting.
	sv.host.close()
	closed := make(chan struct{})
	go func() {
		sv.links.close(sv.id, context.Cause(sv.root))
		conn.Close()   // flushes the answers, then waits for the calls that did not answer
		sv.host.wait() // the peers' calls
		close(closed)
	}()
	select {
	case <-closed:
	case <-exitBy:
	}
	return code
}

// startProcess spawns name as an actor: it starts its process (startProc)
// and completes the handshake over the link.
func startProcess(ctx context.Context, name string, cfg config) (*Ref, error) {
	p, err := startProc(ctx, transport.ActorID{Name: name, ID: newID(), Host: cfg.hostFor(ctx)}, &cfg, "["+name+"] ")
	if err != nil {
		return nil, err
	}
	r := newRef(ctx, p.id, cfg, p, &p.out)
	hctx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancel()
	handshake := transport.FileConn
	if cfg.handshake != nil {
		handshake = cfg.handshake
	}
	conn, err := handshake(hctx, p.linkFile, transport.Initiator, transport.WithIdentity(identity(ctx), "parent"),
		transport.WithHandler(r.serveChild))
	p.linkFile = nil // the handshake closed it
	if err != nil {
		return nil, r.failedStart(ctx, hctx, err)
	}
	r.conn = conn
	return r, nil
}

// startProc forks the actor's process (on the spawner thread, see
// startCmd) with the child's end of a socketpair as its link, and returns
// it with the parent's end in linkFile. Its output is forwarded with each
// line prefixed. One goroutine per child reaps it, parked in the poller on
// Linux rather than holding a thread (see exitWatch).
func startProc(ctx context.Context, id transport.ActorID, cfg *config, prefix string) (*Process, error) {
	name := id.Name
	exe := cfg.exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("actor: spawn %s: %w", name, err)
		}
	}
	local, remote, err := transport.Pair()
	if err != nil {
		return nil, fmt.Errorf("actor: spawn %s: %w", name, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		local.Close()
		remote.Close()
		return nil, fmt.Errorf("actor: spawn %s: stdout pipe: %w", name, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		local.Close()
		remote.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("actor: spawn %s: stderr pipe: %w", name, err)
	}
	cmd := exec.Command(exe, cfg.args...)
	env := cfg.env
	if !cfg.replaceEnv {
		env = append(os.Environ(), env...)
	}
	cmd.Env = append(env, envActor+"=1", envName+"="+name, envID+"="+id.ID)
	if id.Host != "" {
		cmd.Env = append(cmd.Env, envHost+"="+id.Host)
	}
	if raceEnabled && !strings.Contains(os.Getenv("GORACE"), "atexit_sleep_ms") {
		// A race-enabled child otherwise sleeps a second before exiting.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	}
	cmd.Dir = cfg.dir
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.ExtraFiles = []*os.File{remote} // becomes fd 3 in the child
	page := newProgressFile()
	if page != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, page) // fd 4
		cmd.Env = append(cmd.Env, envProgress+"=1")
	} else {
		cmd.Env = append(cmd.Env, envProgress+"=0") // over an inherited one
	}
	cmd.SysProcAttr = sysProcAttr()
	watch, release, err := startCmd(ctx, cmd, cfg.nice)
	remote.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		local.Close()
		outR.Close()
		errR.Close()
		readProgress(page) // closes it
		return nil, startError(name, err)
	}
	id.PID = cmd.Process.Pid
	p := &Process{id: id, cmd: cmd, done: make(chan struct{}), linkFile: local}
	out, errw := cfg.writers(os.Stderr)
	p.out.start(outR, errR, out, errw, prefix)
	go func() {
		p.waitErr = watch.reap(cmd)
		release()
		p.progress = readProgress(page)
		close(p.done)
	}()
	return p, nil
}

// startError is the error of a spawn whose fork, or the child's exit watch
// after it, failed: it names the limit that was reached, and how to raise
// it.
func startError(name string, err error) error {
	if errors.Is(err, syscall.EBADF) {
		// Our descriptors are open: the forked child failed to move them
		// above the highest one, which is at this process's RLIMIT_NOFILE.
		// The table is full.
		err = fmt.Errorf("%w: %w", syscall.EMFILE, err)
	}
	switch {
	case errors.Is(err, syscall.EMFILE):
		return fmt.Errorf("actor: spawn %s: out of descriptors: this process's reach its RLIMIT_NOFILE: "+
			"end some actors or close some files, or raise the limit (ulimit -n): %w", name, err)
	case errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("actor: spawn %s: out of descriptors: the system's open files reach its limit "+
			"(fs.file-max): end some actors or close some files, or raise the limit: %w", name, err)
	case errors.Is(err, syscall.EAGAIN):
		// fork refused a new process: the processes and threads of this
		// user, or of this process's cgroup, reach their limit.
		return fmt.Errorf("actor: spawn %s: out of processes: this user's processes and threads reach "+
			"its RLIMIT_NPROC, or its cgroup's reach pids.max: end some actors, or raise the limit: %w", name, err)
	}
	return fmt.Errorf("actor: spawn %s: %w", name, err)
}
