package pool_test

import (
	"os"
	"syscall"
	"unsafe"
)

// deathSignals are the signals a worker is killed with in the tests.
var deathSignals = []syscall.Signal{syscall.SIGKILL, syscall.SIGSEGV}

// segfault ends the process by SIGSEGV, as a crash in C code would: the Go
// runtime's handler is reset to the default first, or it would turn the
// signal into a panic. The raw rt_sigaction, and its struct, are Linux's.
func segfault() {
	var act [4]uint64 // struct sigaction: handler SIG_DFL, flags, restorer, mask
	_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGSEGV),
		uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	_ = syscall.Kill(os.Getpid(), syscall.SIGSEGV)
}
