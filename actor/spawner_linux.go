package actor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// On Linux a child gets SIGKILL from the kernel when the thread that forked
// it exits (Pdeathsig), so the thread must outlive the child. One thread per
// process does every fork: the spawner, a goroutine locked to its thread
// that serves fork requests over a channel, so that threads do not grow
// with live actors (Erlang/OTP does the same with its one forker,
// erl_child_setup). It runs while any child it forked is not yet reaped, or
// a fork is asked of it; once none is, it unlocks its thread (nothing it
// forked is alive then for the thread's exit to kill) and exits, and the
// thread goes back to the runtime, ready for the next spawner: a spawn
// after an idle spell costs no new thread either.
//
// The spawner is process-wide because the thread is: a child's Pdeathsig
// follows whichever thread forked it.
//
// A child inherits its niceness from the thread that forked it, and keeps
// it across exec, with every thread its runtime starts: so an actor started
// WithNice(n) is forked by a spawner of its own whose thread runs n nicer
// (forkers holds one per n). Setting the child's niceness after the fork
// would race with the threads its runtime starts first, which on Linux keep
// their own. A thread cannot be made less nice again without CAP_SYS_NICE,
// so such a spawner, once idle, exits without unlocking its thread, and the
// runtime ends the thread instead of reusing it.
var (
	forker  spawner
	forkers struct {
		mu     sync.Mutex
		byNice map[int]*spawner // bounded by the niceness range, 40 values
	}
)

type spawner struct {
	nice    int // the increment of its thread's niceness
	mu      sync.Mutex
	live    int  // forks asked for, plus children forked and not yet reaped
	running bool // the spawner goroutine is running (or about to)
	reqs    chan forkReq
	idle    chan struct{} // a hint that live may have reached 0
}

type forkReq struct {
	cmd  *exec.Cmd
	done chan error
}

// sysProcAttr makes the kernel SIGKILL the child when its parent (the
// spawner thread, which forked it) dies, by any means.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// parentDeathSignal is the signal attr has the kernel send the child when
// its parent thread dies (none for a nil attr).
func parentDeathSignal(attr *syscall.SysProcAttr) syscall.Signal {
	if attr == nil {
		return 0
	}
	return attr.Pdeathsig
}

// startCmd starts cmd on the spawner thread, starting the spawner if it is
// not running, and opens the child's exit watch (see watchExit). It waits
// for the forks asked before it, or until ctx ends (then cmd is not started
// and ctx's cause is returned), then for this fork: fork and exec return
// in a fraction of a millisecond (0.2–0.6 ms median for a 13 MB binary on
// a 2-vCPU VM).
// The child is to be reaped with watch.reap, and release called once it
// has been. A warning that the watch must hold a thread goes to logger.
// On an error there is no child (one whose watch could not be
// opened is killed and reaped first), and nothing to release.
func startCmd(ctx context.Context, cmd *exec.Cmd, nice int, logger *slog.Logger) (watch *exitWatch, release func(), err error) {
	s := spawnerFor(nice)
	s.mu.Lock()
	if s.reqs == nil {
		s.reqs, s.idle = make(chan forkReq), make(chan struct{}, 1)
	}
	s.live++
	if !s.running {
		s.running = true
		go s.serve()
	}
	s.mu.Unlock()
	req := forkReq{cmd: cmd, done: make(chan error, 1)}
	select {
	case s.reqs <- req:
		err = <-req.done
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	if err == nil {
		if watch, err = watchExit(cmd.Process.Pid, logger); err != nil {
			// Rather than a thread held in waitid for the child's life,
			// the spawn fails, and leaves nothing behind.
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	if err != nil {
		s.release()
		return nil, nil, err
	}
	return watch, sync.OnceFunc(s.release), nil
}

// spawnerFor returns the spawner whose children start nice steps nicer
// than this process.
func spawnerFor(nice int) *spawner {
	if nice == 0 {
		return &forker
	}
	forkers.mu.Lock()
	defer forkers.mu.Unlock()
	if forkers.byNice == nil {
		forkers.byNice = make(map[int]*spawner)
	}
	s := forkers.byNice[nice]
	if s == nil {
		s = &spawner{nice: nice}
		forkers.byNice[nice] = s
	}
	return s
}

// release gives back one fork's share of the spawner: once none is left,
// the spawner may exit.
func (s *spawner) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live--
	if s.live == 0 {
		select {
		case s.idle <- struct{}{}:
		default: // a hint is already pending
		}
	}
}

// serve is the spawner: it forks on its own locked thread, which it
// unlocks only once no fork and no child of its own is left.
func (s *spawner) serve() {
	runtime.LockOSThread()
	var niceErr error
	if s.nice == 0 {
		defer runtime.UnlockOSThread() // reached only with no child left to kill
	} else {
		if syscall.Gettid() == syscall.Getpid() {
			// The main thread: its niceness is the process's in ps and
			// /proc/<pid>/stat, and the runtime never ends it. Hold it
			// until another goroutine has locked another thread (none can
			// run on this one meanwhile), and leave the spawner to it.
			moved := make(chan struct{})
			go s.serveMoved(moved)
			<-moved
			runtime.UnlockOSThread()
			return
		}
		// Its thread is never given back (see forker): it ends with serve.
		niceErr = renice(s.nice)
	}
	for {
		select {
		case req := <-s.reqs:
			if niceErr != nil {
				req.done <- niceErr
				continue
			}
			req.done <- req.cmd.Start()
		case <-s.idle:
			s.mu.Lock()
			if s.live == 0 {
				s.running = false
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
		}
	}
}

// serveMoved is serve on another thread than the main one, which serve
// holds until moved is closed.
func (s *spawner) serveMoved(moved chan struct{}) {
	runtime.LockOSThread()
	close(moved)
	s.serve() // locks again (the count nests), on this thread
}

// renice makes the calling thread n steps nicer than it is (as nice(2)
// does; Linux keeps a niceness per thread), within the range -20 to 19.
func renice(n int) error {
	tid := syscall.Gettid()
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return fmt.Errorf("actor: WithNice(%d): %w", n, os.NewSyscallError("getpriority", err))
	}
	// The raw system call reports 20 - niceness, so as never to be negative.
	target := min(max(20-prio+n, -20), 19)
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, target); err != nil {
		return fmt.Errorf("actor: WithNice(%d): this process may not run an actor at niceness %d "+
			"(less nice than itself needs CAP_SYS_NICE or a higher RLIMIT_NICE): pass n >= 0: %w",
			n, target, os.NewSyscallError("setpriority", err))
	}
	return nil
}
