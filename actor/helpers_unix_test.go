//go:build unix

package actor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// The helpers are the test binary re-executed as a program of its own,
// chosen by helperEnv, before TestMain reaches actor.Main.
const (
	helperEnv = "GROVE_ACTOR_TEST_HELPER"
	depthEnv  = "GROVE_ACTOR_TEST_DEPTH"
	// maxDepth caps a chain of self-spawning helpers, so that a regression
	// of the forgotten-Main check cannot fork-bomb the machine: the level
	// at maxDepth exits at once, whatever Spawn does.
	maxDepth = 3
)

// runHelper runs the helper helperEnv names, if any, and reports its exit
// code.
func runHelper() (int, bool) {
	switch os.Getenv(helperEnv) {
	case "nomain":
		return forgetMain(), true
	case "registerbeforemain":
		return registerBeforeMain(), true
	case "fds":
		return spawnWithoutDescriptors(), true
	case "threadcap":
		return spawnUnderThreadCap(), true
	case "nproc":
		return spawnWithoutProcesses(), true
	case "pidfd":
		return spawnWithPidfdRefused(), true
	}
	return 0, false
}

// forgetMain is a program that spawns an actor without calling actor.Main
// first, and prints what Spawn returned. Its actor, the same program, is
// started with the actor environment, never serves, and spawns in turn.
func forgetMain() int {
	depth, _ := strconv.Atoi(os.Getenv(depthEnv))
	if depth >= maxDepth {
		fmt.Printf("runaway: level %d was spawned\n", depth)
		return 3
	}
	os.Setenv(depthEnv, strconv.Itoa(depth+1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		_, err := actor.Spawn(ctx, n, fmt.Sprintf("level%d", depth+1))
		return err
	})
	fmt.Printf("spawn error: %v\n", err)
	if err != nil {
		return 1
	}
	return 0
}

// spawnWithoutDescriptors fills this process's descriptor table, then
// spawns with k descriptors free, for k from 0 up, so that each step of the
// spawn in turn is the one that meets EMFILE. It prints a BAD line for
// every spawn whose error is not this process's own EMFILE, and a LEAK
// line when a failed spawn kept descriptors.
func spawnWithoutDescriptors() int {
	// A low limit keeps the table small; the actors inherit it, and need
	// only a handful.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("BAD getrlimit:", err)
		return 1
	}
	lim.Cur = min(lim.Cur, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("BAD setrlimit:", err)
		return 1
	}
	// spawn spawns actors at once, in a nursery each, so that one's
	// failure does not cancel the others: a spawn between its fork and its
	// handshake finds the descriptors another has just freed taken.
	spawn := func(actors int) error {
		return nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			for range actors {
				n.Go(func(context.Context) error {
					return nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
						ref, err := actor.Spawn(ctx, n, "worker", actor.WithEnv(helperEnv+"="),
							actor.WithStartTimeout(5*time.Second))
						if err != nil {
							return err
						}
						if _, err := square.Call(ctx, ref, 3); err != nil {
							return err
						}
						n.Cancel(nil)
						return nil
					})
				})
			}
			return nil
		})
	}
	if err := spawn(1); err != nil { // the runtime's own descriptors, opened on first use
		fmt.Println("BAD warm-up:", err)
		return 1
	}
	var hogs []*os.File
	fill := func() int {
		added := 0
		for len(hogs) < int(lim.Cur) {
			f, err := os.Open(os.DevNull)
			if err != nil {
				break
			}
			hogs = append(hogs, f)
			added++
		}
		return added
	}
	fill()
	defer func() {
		for _, f := range hogs {
			f.Close()
		}
	}()
	ok, emfile := 0, 0
	for k := range 48 {
		if k > len(hogs) {
			break
		}
		for _, f := range hogs[len(hogs)-k:] {
			f.Close()
		}
		hogs = hogs[:len(hogs)-k]
		err := spawn(1 + k%4)
		for _, err := range nursery.Errors(err) {
			if !errors.Is(err, syscall.EMFILE) {
				fmt.Printf("BAD k=%d: %v\n", k, err)
			}
		}
		switch {
		case err == nil:
			ok++
		case errors.Is(err, syscall.EMFILE):
			emfile++
		}
		if got := fill(); got != k {
			fmt.Printf("LEAK k=%d: %d descriptors free after the spawn\n", k, got)
		}
	}
	fmt.Printf("ok=%d emfile=%d\n", ok, emfile)
	return 0
}

// capActors is how many live actors spawnUnderThreadCap keeps, and
// capHeadroom how many threads above those it has it allows: two threads
// per live actor, as Spawn cost before, would cross the cap.
const capActors, capHeadroom = 40, 16

// spawnUnderThreadCap caps this process's OS threads a little above those
// it has (debug.SetMaxThreads, past which the runtime dies of "thread
// exhaustion") and keeps capActors actors alive at once. It prints "ok"
// once they all answered and were reaped.
func spawnUnderThreadCap() int {
	debug.SetMaxThreads(pprof.Lookup("threadcreate").Count() + capHeadroom)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		for i := range capActors {
			ref, err := actor.Spawn(ctx, n, fmt.Sprintf("w%d", i), actor.WithEnv(helperEnv+"="))
			if err != nil {
				return err
			}
			if _, err := square.Call(ctx, ref, i); err != nil {
				return err
			}
		}
		n.Cancel(nil)
		return nil
	})
	if err != nil {
		fmt.Println("BAD:", err)
		return 1
	}
	fmt.Printf("ok: %d live actors under a cap of %d more threads\n", capActors, capHeadroom)
	return 0
}

// spawnWithoutProcesses spawns once with processes to spare, then sets its
// RLIMIT_NPROC to 1, which its user exceeds already (root is exempt from
// the limit, so as root it first becomes nobody), and spawns again. It
// prints what the second Spawn returned.
func spawnWithoutProcesses() int {
	spawn := func() error {
		return nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "worker", actor.WithEnv(helperEnv+"="))
			if err != nil {
				return err
			}
			_, err = square.Call(ctx, ref, 3)
			n.Cancel(nil)
			return err
		})
	}
	if err := spawn(); err != nil { // the threads the runtime needs, made while it may
		fmt.Println("BAD warm-up:", err)
		return 1
	}
	lim := syscall.Rlimit{Cur: 1, Max: 1}
	if err := syscall.Setrlimit(rlimitNPROC, &lim); err != nil {
		fmt.Println("BAD setrlimit:", err)
		return 1
	}
	if os.Getuid() == 0 {
		if err := syscall.Setuid(65534); err != nil {
			fmt.Println("BAD setuid:", err)
			return 1
		}
	}
	err := spawn()
	fmt.Printf("spawn error: %v\n", err)
	if errors.Is(err, syscall.EAGAIN) {
		fmt.Println("eagain")
	}
	return 0
}

// registerBeforeMain is a process started as an actor that uses discovery
// before actor.Main has taken over, and prints what each call returned.
func registerBeforeMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := actor.Register(ctx, "before-main")
	fmt.Printf("register: %v\n", err)
	_, err = actor.Find(ctx, "before-main")
	fmt.Printf("find: %v\n", err)
	for _, err := range actor.Watch(ctx, "before-main") {
		fmt.Printf("watch: %v\n", err)
		break
	}
	return 0
}
