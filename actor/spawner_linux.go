package actor

import (
	"context"
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
var forker spawner

type spawner struct {
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

// startCmd starts cmd on the spawner thread, starting the spawner if it is
// not running, and opens the child's exit watch (see watchExit). It waits
// for the forks asked before it, or until ctx ends (then cmd is not started
// and ctx's cause is returned), then for this fork, about a millisecond.
// The child is to be reaped with watch.reap, and release called once it
// has been. On an error there is no child (one whose watch could not be
// opened is killed and reaped first), and nothing to release.
func startCmd(ctx context.Context, cmd *exec.Cmd) (watch *exitWatch, release func(), err error) {
	s := &forker
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
		if watch, err = watchExit(cmd.Process.Pid); err != nil {
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
	defer runtime.UnlockOSThread() // reached only with no child left to kill
	for {
		select {
		case req := <-s.reqs:
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
