package actor

import (
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"
)

// Linux's pidfd interface: a descriptor for a process that becomes readable
// when the process exits (pidfd_open and its poll, 5.3; waitid's P_PIDFD,
// 5.4).
const (
	sysPidfdOpen = 434 // pidfd_open, the same number on every architecture Go supports
	pPidfd       = 3   // waitid's P_PIDFD
)

// threadReapWarning says, once per process, that its children are reaped
// by threads: like fallbackWarning, a fact about this process.
var threadReapWarning sync.Once

// An exitWatch is a child's pidfd, which waits for the child's exit in the
// runtime's network poller, one epoll set for every child of the process,
// instead of a thread. A nil *exitWatch stands for no pidfd: reap then
// holds a thread for the child's whole life.
//
// os.Process holds a pidfd of its own (Go 1.23 and later), but does not
// export it, and its Wait blocks a thread in waitid on it: the watch is a
// second pidfd, one more descriptor per live child.
type exitWatch struct{ pidfd *os.File }

// watchExit opens a pidfd for pid, a child just forked and not yet reaped
// (so that pid cannot name another process). It fails on what the spawn
// must fail for rather than hold a thread per child: out of descriptors
// (EMFILE, ENFILE), or any error but these two. Where pidfds are refused
// (EPERM, EACCES: a seccomp filter) or missing (ENOSYS: a kernel before
// 5.3), it returns nil, and the first time logs a warning to logger that
// threads grow with live actors here.
func watchExit(pid int, logger *slog.Logger) (*exitWatch, error) {
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	switch errno {
	case 0:
	case syscall.ENOSYS, syscall.EPERM, syscall.EACCES:
		threadReapWarning.Do(func() {
			logger.Warn("actor: pidfd_open is refused here; each actor's process is reaped by an OS thread",
				"err", os.NewSyscallError("pidfd_open", errno), logKeyPID, pid,
				"cost", "a thread blocked in waitid per live actor: threads grow with live actors, "+
					"up to the runtime's cap (debug.SetMaxThreads), past which the program dies",
				"fix", "allow pidfd_open and waitid (Linux 5.4 or later, and the seccomp profile)")
		})
		return nil, nil
	default:
		return nil, os.NewSyscallError("pidfd_open", errno)
	}
	// Nonblocking, it joins the poller. (pidfd_open's PIDFD_NONBLOCK would
	// need Linux 5.10.)
	if err := syscall.SetNonblock(int(fd), true); err != nil {
		syscall.Close(int(fd))
		return nil, os.NewSyscallError("fcntl", err)
	}
	return &exitWatch{os.NewFile(fd, "pidfd")}, nil
}

// reap waits for cmd's process to exit and reaps it. With a pidfd, it
// waits in the poller, and cmd.Wait runs once the child has exited, when it
// returns at once; without (w is nil), cmd.Wait blocks a thread in waitid
// for as long as the child lives.
func (w *exitWatch) reap(cmd *exec.Cmd) error {
	if w != nil {
		if rc, err := w.pidfd.SyscallConn(); err == nil {
			// Read calls the function, and while it returns false waits in
			// the poller until the descriptor is readable.
			_ = rc.Read(func(fd uintptr) bool { return !alive(int(fd)) })
		}
		w.pidfd.Close()
	}
	return cmd.Wait()
}

// alive reports whether the process of pidfd is still running; an error
// of waitid says no (cmd.Wait then blocks, or reports it). WNOWAIT leaves
// the exited child to cmd.Wait.
func alive(pidfd int) bool {
	var info [128]byte // siginfo_t
	_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPidfd, uintptr(pidfd),
		uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOHANG|syscall.WNOWAIT, 0, 0)
	if errno != 0 {
		return false
	}
	// With WNOHANG and no child exited, waitid leaves si_pid 0. It follows
	// si_signo, si_errno and si_code, at the union's alignment.
	off := (3*4 + unsafe.Alignof(uintptr(0)) - 1) &^ (unsafe.Alignof(uintptr(0)) - 1)
	return *(*int32)(unsafe.Pointer(&info[off])) == 0
}
