package actor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// pidfdErrnoEnv names, for the "pidfd" helper, the errno its seccomp
// filter answers every pidfd_open with.
const pidfdErrnoEnv = "GROVE_ACTOR_TEST_PIDFD_ERRNO"

// pidfdSpawns is how many actors the "pidfd" helper spawns, and keeps
// alive when it can.
const pidfdSpawns = 8

// threadReapWarning is a phrase of the one warning of a process whose
// children are reaped by threads.
const threadReapWarning = "threads grow with live actors"

// A parent whose pidfd_open fails for want of descriptors (EMFILE, ENFILE)
// gets an error from Spawn that names the limit, with the forked child
// killed and reaped before Spawn returns, rather than a thread held in
// waitid for the child's life; one where pidfds are refused (a seccomp
// filter, EPERM or EACCES) or missing (ENOSYS) reaps its children by
// threads, and says so once through log/slog. The helper runs under a
// seccomp filter that answers pidfd_open with the errno: the descriptor
// table cannot be filled to make pidfd_open the step that fails, since a
// fork that succeeds leaves more descriptors free than pidfd_open needs.
func TestSpawnWithoutPidfd(t *testing.T) {
	proctest.NeedsProcesses(t, "a child to reap")
	proctest.NoChildrenLeft(t)
	// The runtime tests once per process whether pidfds work, with a
	// pidfd_open: do it here, unfiltered, so that the filtered threads
	// below do not make it conclude they do not.
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Release()
	}
	if err := onFilteredThread(syscall.EPERM, func() error { return nil }); err != nil {
		t.Skip("no seccomp filter can be installed here:", err)
	}
	for _, tc := range []struct {
		name  string
		errno syscall.Errno
		limit string // the limit Spawn's error names, if it must fail
	}{
		{"EMFILE", syscall.EMFILE, "RLIMIT_NOFILE"},
		{"ENFILE", syscall.ENFILE, "fs.file-max"},
		{"EPERM", syscall.EPERM, ""},
		{"EACCES", syscall.EACCES, ""},
		{"ENOSYS", syscall.ENOSYS, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr := runHelperStarted(t, "pidfd", func(cmd *exec.Cmd) error {
				cmd.Env = append(cmd.Env, pidfdErrnoEnv+"="+strconv.Itoa(int(tc.errno)))
				return onFilteredThread(tc.errno, cmd.Start)
			})
			t.Log(stdout)
			require.NotContains(t, stdout, "BAD", stderr)
			require.Contains(t, stdout, "done:", stderr)
			warnings := strings.Count(stderr, threadReapWarning)
			if tc.limit != "" {
				require.Contains(t, stdout, fmt.Sprintf("failed=%d ", pidfdSpawns), "every spawn fails: %s", stderr)
				require.Contains(t, stdout, tc.limit, "the error names the limit")
				require.Zero(t, warnings, "an error, not the fallback: %s", stderr)
			} else {
				require.Contains(t, stdout, "failed=0 ", "the fallback serves: %s", stderr)
				require.Equal(t, 1, warnings, "one warning per process: %s", stderr)
				require.Contains(t, stderr, `fix="allow pidfd_open and waitid`, "with the fix as an attribute")
			}
		})
	}
}

// sysPidfdOpen is pidfd_open's number, the same on every architecture.
const sysPidfdOpen = 434

// onFilteredThread runs f on a thread of its own under a seccomp filter
// that answers every pidfd_open with errno. A process f starts inherits the
// filter at the fork, for all its threads and children. The thread stays
// locked to a goroutine that ends, so that the runtime ends the filtered
// thread with it.
func onFilteredThread(errno syscall.Errno, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked
		if err := refuseSyscall(sysPidfdOpen, errno); err != nil {
			done <- err
			return
		}
		done <- f()
	}()
	return <-done
}

// refuseSyscall installs on the calling thread a seccomp filter that
// answers nr with errno and allows every other call.
func refuseSyscall(nr uint32, errno syscall.Errno) error {
	const (
		prSetNoNewPrivs   = 38
		prSetSeccomp      = 22
		seccompModeFilter = 2
		bpfLdWAbs         = 0x20 // BPF_LD | BPF_W | BPF_ABS
		bpfJeqK           = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
		bpfRetK           = 0x06 // BPF_RET | BPF_K
		retErrno          = 0x00050000
		retAllow          = 0x7fff0000
	)
	type sockFilter struct {
		code   uint16
		jt, jf uint8
		k      uint32
	}
	prog := []sockFilter{
		{bpfLdWAbs, 0, 0, 0}, // seccomp_data.nr
		{bpfJeqK, 0, 1, nr},
		{bpfRetK, 0, 0, retErrno | uint32(errno)},
		{bpfRetK, 0, 0, retAllow},
	}
	fprog := struct {
		len    uint16
		filter *sockFilter
	}{uint16(len(prog)), &prog[0]}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetSeccomp, seccompModeFilter,
		uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("prctl(PR_SET_SECCOMP): %w", e)
	}
	runtime.KeepAlive(prog)
	return nil
}

// processThreads is this process's count of OS threads.
func processThreads() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// spawnWithPidfdRefused is the "pidfd" helper: under the seccomp filter
// onFilteredThread installed, it spawns pidfdSpawns actors in one nursery and
// keeps those that start alive. It prints a BAD line for a spawn that
// fails otherwise than the errno says it must, or leaves its child, and
// for threads that grew with the spawns where Spawn was to fail.
func spawnWithPidfdRefused() int {
	n, _ := strconv.Atoi(os.Getenv(pidfdErrnoEnv))
	errno := syscall.Errno(n)
	limit := errno == syscall.EMFILE || errno == syscall.ENFILE
	if _, _, e := syscall.Syscall(sysPidfdOpen, uintptr(os.Getpid()), 0, 0); e != errno {
		fmt.Printf("BAD: pidfd_open is not refused with %v but %v\n", errno, e)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := processThreads()
	failed, grown := 0, 0
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		for i := range pidfdSpawns {
			ref, err := actor.Spawn(ctx, n, fmt.Sprintf("w%d", i), actor.WithEnv(helperEnv+"="))
			if err != nil {
				failed++
				switch {
				case !limit:
					fmt.Printf("BAD spawn %d: %v\n", i, err)
				case !errors.Is(err, errno):
					fmt.Printf("BAD spawn %d: not %v: %v\n", i, errno, err)
				case failed == 1:
					fmt.Printf("error: %v\n", err)
				}
				if left := len(proctest.Children(os.Getpid())); left != i+1-failed {
					fmt.Printf("BAD spawn %d: %d children, %d live actors\n", i, left, i+1-failed)
				}
				continue
			}
			if _, err := square.Call(ctx, ref, i); err != nil {
				return err
			}
		}
		grown = processThreads() - before
		if limit && grown > pidfdSpawns/2 {
			fmt.Printf("BAD: %d threads more for %d live actors\n", grown, pidfdSpawns-failed)
		}
		n.Cancel(nil)
		return nil
	})
	if err != nil {
		fmt.Println("BAD:", err)
	}
	if left := proctest.Children(os.Getpid()); len(left) > 0 {
		fmt.Printf("BAD: children left: %v\n", left)
	}
	fmt.Printf("done: failed=%d of %d, %+d threads\n", failed, pidfdSpawns, grown)
	return 0
}
