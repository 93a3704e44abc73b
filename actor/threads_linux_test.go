package actor_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// rlimitNPROC is RLIMIT_NPROC, which package syscall does not name: 6 on
// Linux but for mips and sparc, where the test does not run.
const rlimitNPROC = 6

// threads reads this process's count of OS threads from /proc/self/status.
func threads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// liveActors is how many actors TestThreadsDoNotGrowWithActors keeps alive
// at once: 2,000, the target, unless -short or -race (whose actors
// cost 15 MB each) ask for fewer, and as many as the descriptor limit
// allows (a live actor holds about 6 of this process's descriptors).
func liveActors(t *testing.T) int {
	n := 2000
	switch {
	case raceBuild:
		n = 50
	case testing.Short():
		n = 200
	}
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	return min(n, (int(lim.Cur)-200)/8)
}

// Threads do not grow with live actors: one spawner thread does every fork
// and the children are reaped from the poller, so 2,000 live actors cost
// their parent fewer than 64 OS threads, and are all reaped on cancel.
// Before, each live actor held two threads: its Spawn's task, locked to
// the thread that forked it, and one blocked in waitid.
func TestThreadsDoNotGrowWithActors(t *testing.T) {
	proctest.NeedsProcesses(t, "processes to fork")
	proctest.NoChildrenLeft(t)
	actors := liveActors(t)
	require.Greater(t, actors, 32, "too few descriptors to tell")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var pids []int
	var most int
	start := time.Now()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		for i := range actors {
			ref, err := actor.Spawn(ctx, n, "w"+strconv.Itoa(i), actor.WithStartTimeout(30*time.Second))
			if err != nil {
				return err
			}
			pids = append(pids, ref.PID())
			if i%50 == 0 {
				most = max(most, threads(t))
			}
		}
		most = max(most, threads(t))
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
	t.Logf("%d live actors, spawned and reaped in %v: at most %d threads", actors, time.Since(start), most)
	require.Less(t, most, 64, "threads grew with the live actors")
	require.Empty(t, proctest.Gone(pids, 5*time.Second), "every actor was reaped")
}

// runSurvivingHelper runs the helper program mode, which spawns actors,
// and checks that it did not die of a fatal error of the runtime.
func runSurvivingHelper(t *testing.T, mode string) (stdout, stderr string) {
	t.Helper()
	proctest.NeedsProcesses(t, "processes to fork")
	proctest.NoChildrenLeft(t)
	stdout, stderr = runHelperProgram(t, mode)
	require.False(t, strings.Contains(stderr, "fatal error"), "the parent died: %.300s", stderr)
	return stdout, stderr
}

// Live actors do not bring their parent to the runtime's thread cap, past
// which it dies of "thread exhaustion", unrecoverable; before, each held
// two threads.
func TestSpawnUnderAThreadCap(t *testing.T) {
	stdout, stderr := runSurvivingHelper(t, "threadcap")
	require.Contains(t, stdout, "ok: ", stderr)
}

// A parent out of processes (RLIMIT_NPROC, a cgroup's pids.max) gets an
// error from Spawn that matches EAGAIN and names the limit to raise.
func TestSpawnOutOfProcesses(t *testing.T) {
	stdout, stderr := runSurvivingHelper(t, "nproc")
	require.NotContains(t, stdout, "BAD", stderr)
	require.Contains(t, stdout, "eagain", stderr)
	require.Contains(t, stdout, "out of processes", "the error says which resource ran out")
	require.Contains(t, stdout, "RLIMIT_NPROC", "and which limit to raise")
}
