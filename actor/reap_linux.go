package actor

import (
	"os"
	"os/exec"
	"syscall"
	"unsafe"
)

// Linux's pidfd interface (5.3 and later): a descriptor for a process that
// becomes readable when the process exits.
const (
	sysPidfdOpen  = 434 // pidfd_open, the same number on every architecture Go supports
	pidfdNonblock = syscall.O_NONBLOCK
	pPidfd        = 3 // waitid's P_PIDFD
)

// reap waits for cmd's process to exit and reaps it, without holding a
// thread while the child lives: a pidfd of the child waits in the
// runtime's network poller, one epoll set for every child of the process,
// and cmd.Wait runs once the child has exited, when it returns at once.
// Where pidfds do not work (a kernel before 5.4, a seccomp filter, or no
// descriptor left), it falls back to cmd.Wait, which blocks a thread in
// waitid for as long as the child lives.
func reap(cmd *exec.Cmd) error {
	exited(cmd.Process.Pid)
	return cmd.Wait()
}

// exited returns once the child pid has exited (it is then a zombie, for
// cmd.Wait to reap), or at once if that cannot be waited for without a
// thread.
func exited(pid int) {
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), pidfdNonblock, 0)
	if errno != 0 {
		return
	}
	f := os.NewFile(fd, "pidfd") // nonblocking: it joins the poller
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Read calls the function, and while it returns false waits in the
	// poller until the descriptor is readable.
	_ = rc.Read(func(fd uintptr) bool { return !alive(int(fd)) })
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
