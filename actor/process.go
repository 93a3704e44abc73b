//go:build unix

package actor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
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
			tellParent(os.Stderr, "the handshake with the parent failed", err)
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
			tellParent(os.Stderr, "the link to the parent failed", err)
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
	r := newRef(ctx, p.id, cfg, p)
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
	err = runCmdHook(cmd, cfg.cmdHook)
	var watch *exitWatch
	release := func() {}
	if err == nil {
		watch, release, err = startCmd(ctx, cmd, cfg.nice, cfg.warnLog())
	}
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
	out, errw, prefix := cfg.sinks(id, os.Stderr, prefix)
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

// runCmdHook calls WithCmd's hook, if any, on cmd, which is ready to
// start, and checks that it left what the spawn needs as it was (see
// [WithCmd]): its error names what changed and what to do instead. A
// process the hook started is killed and reaped; on an error, the files
// the hook put on cmd's child side are closed (see closeHookFiles).
func runCmdHook(cmd *exec.Cmd, hook func(*exec.Cmd)) error {
	if hook == nil {
		return nil
	}
	files, stdout, stderr := slices.Clone(cmd.ExtraFiles), cmd.Stdout, cmd.Stderr
	err := checkCmdHook(cmd, hook)
	if err != nil {
		closeHookFiles(cmd, files, stdout, stderr)
	}
	return err
}

// closeHookFiles closes the files of a refused hook on cmd's child side,
// which no Start will close: Stdin (the read end of StdinPipe, say), a
// replaced Stdout or Stderr, ExtraFiles entries beyond grove's. Grove's
// own (files, stdout, stderr) are grove's to close, and this process's
// standard files (fd 0 to 2) are left open.
func closeHookFiles(cmd *exec.Cmd, files []*os.File, stdout, stderr io.Writer) {
	var added []any
	added = append(added, cmd.Stdin)
	if cmd.Stdout != stdout {
		added = append(added, cmd.Stdout)
	}
	if cmd.Stderr != stderr {
		added = append(added, cmd.Stderr)
	}
	for _, f := range cmd.ExtraFiles {
		if !slices.Contains(files, f) {
			added = append(added, f)
		}
	}
	for _, a := range added {
		f, ok := a.(*os.File)
		if !ok || f == nil || f == stdout || f == stderr || slices.Contains(files, f) || f.Fd() <= 2 {
			continue
		}
		_ = f.Close()
	}
}

// checkCmdHook calls hook on cmd and checks it as runCmdHook says.
func checkCmdHook(cmd *exec.Cmd, hook func(*exec.Cmd)) error {
	path, args, files, attr := cmd.Path, slices.Clone(cmd.Args), slices.Clone(cmd.ExtraFiles), cmd.SysProcAttr
	stdout, stderr, deathSig := cmd.Stdout, cmd.Stderr, parentDeathSignal(attr)
	var vars [len(groveVars)]string // their entries, "" for one not set
	for i, key := range groveVars {
		vars[i] = lastEnv(cmd.Env, key)
	}
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		hook(cmd)
	}()
	const misuse = "WithCmd's hook "
	switch {
	case cmd.Process != nil: // first: a hook that started cmd, then panicked, leaves no process behind
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return errors.New(misuse + "started cmd: leave the start to Spawn")
	case panicked != nil:
		return fmt.Errorf(misuse+"panicked: %v", panicked)
	case cmd.Path != path || !slices.Equal(cmd.Args, args):
		return errors.New(misuse + "changed cmd.Path or cmd.Args: use WithExecutable and WithArgs instead")
	case cmd.Stdin != nil || cmd.Stdout != stdout || cmd.Stderr != stderr:
		return errors.New(misuse + "set cmd.Stdin, cmd.Stdout or cmd.Stderr, which grove's link and output " +
			"forwarding need: use WithOutput, WithStderr or WithLogger for the output, and ExtraFiles for more files")
	case len(cmd.ExtraFiles) < len(files) || !slices.Equal(cmd.ExtraFiles[:len(files)], files):
		return fmt.Errorf(misuse+"replaced or removed cmd.ExtraFiles's first %d entries, the actor's link "+
			"(fd 3) and grove's: append to cmd.ExtraFiles instead", len(files))
	case attr != nil && cmd.SysProcAttr != attr:
		return errors.New(misuse + "replaced cmd.SysProcAttr, which holds grove's settings (Pdeathsig): " +
			"set its fields instead")
	case parentDeathSignal(cmd.SysProcAttr) != deathSig:
		return fmt.Errorf(misuse+"changed cmd.SysProcAttr.Pdeathsig, which makes the kernel kill the actor "+
			"when this process dies: leave it %s", signalName(deathSig))
	}
	for i, key := range groveVars {
		if lastEnv(cmd.Env, key) != vars[i] {
			return fmt.Errorf(misuse+"dropped or overrode %s in cmd.Env, which the actor needs: append to "+
				"cmd.Env (or use WithEnv) rather than replace it, and leave grove's variables alone", key)
		}
	}
	return nil
}

// groveVars are the variables of grove's protocol in an actor's
// environment.
var groveVars = [...]string{envActor, envName, envID, envHost, envProgress}

// lastEnv returns the entry of key in env, the last one, which os/exec
// passes ("" if there is none).
func lastEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, _, ok := strings.Cut(env[i], "="); ok && k == key {
			return env[i]
		}
	}
	return ""
}
