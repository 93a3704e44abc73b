package actor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// The functions the tests' actors run. The test binary is its own actor
// executable, so these are registered in the parent and in every child.

var errQuota = errors.New("quota exceeded")

// blockCancelled counts, in an actor, the calls of block that ended.
var blockCancelled atomic.Int64

func init() { actor.RegisterError("actor_test.errQuota", errQuota) }

type point struct{ X, Y int }

var (
	square = actor.Func("test.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })

	pid = actor.Func("test.pid", func(ctx context.Context, _ struct{}) (int, error) { return os.Getpid(), nil })

	addPoints = actor.Func("test.addPoints", func(ctx context.Context, p point) (int, error) { return p.X + p.Y, nil })

	fail = actor.Func("test.fail", func(ctx context.Context, msg string) (int, error) {
		return 0, fmt.Errorf("%s: %w", msg, errQuota)
	})

	panicky = actor.Func("test.panicky", func(ctx context.Context, _ struct{}) (int, error) { return explode() })

	exit = actor.Func("test.exit", func(ctx context.Context, code int) (int, error) {
		fmt.Fprintln(os.Stderr, "about to exit with", code)
		os.Exit(code)
		return 0, nil
	})

	crash = actor.Func("test.crash", func(ctx context.Context, _ struct{}) (int, error) {
		go func() {
			var p *point
			fmt.Println(p.X) // a nil dereference outside any recover
		}()
		select {}
	})

	block = actor.Func("test.block", func(ctx context.Context, _ struct{}) (string, error) {
		<-ctx.Done()
		blockCancelled.Add(1)
		return "", ctx.Err()
	})

	// cancelledBlocks reports how many calls of block in this actor saw
	// their ctx cancelled.
	cancelledBlocks = actor.Func("test.cancelledBlocks", func(ctx context.Context, _ struct{}) (int64, error) {
		return blockCancelled.Load(), nil
	})

	// headstrong reports that it runs, then ignores its ctx (and, if asked,
	// SIGTERM) for good.
	headstrong = actor.StreamFunc("test.headstrong", func(ctx context.Context, ignoreTerm bool, out chan<- int) error {
		if ignoreTerm {
			signalIgnoreTerm()
		}
		out <- 1
		select {}
	})

	waitKill = actor.Func("test.waitForSignal", func(ctx context.Context, _ struct{}) (int, error) {
		select {} // a long computation, ended only by the kill from outside
	})

	chatty = actor.Func("test.chatty", func(ctx context.Context, n int) (int, error) {
		for i := range n {
			fmt.Printf("line %d of %s\n", i, strings.Repeat("x", 50))
		}
		return n, nil
	})

	// longLines writes a line of each length (newline included, x
	// repeated), then "unterminated" with no newline.
	longLines = actor.Func("test.longLines", func(ctx context.Context, lengths []int) (int, error) {
		for _, n := range lengths {
			fmt.Print(strings.Repeat("x", n-1) + "\n")
		}
		fmt.Print("unterminated")
		return len(lengths), nil
	})

	count = actor.StreamFunc("test.count", func(ctx context.Context, n int, out chan<- int) error {
		for i := range n {
			select {
			case out <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})

	upper = actor.DuplexFunc("test.upper", func(ctx context.Context, in <-chan string, out chan<- string) error {
		for s := range in {
			select {
			case out <- strings.ToUpper(s):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})

	// middle spawns an actor of its own and calls fn there, so errors and
	// cancels cross two hops.
	middle = actor.Func("test.middle", func(ctx context.Context, fn string) ([]int, error) {
		var pids []int
		err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "grandchild")
			if err != nil {
				return err
			}
			pids = append(pids, os.Getpid(), ref.PID())
			switch fn {
			case "fail":
				_, err = fail.Call(ctx, ref, "deep")
			case "block":
				_, err = block.Call(ctx, ref, struct{}{})
			}
			return err
		})
		return pids, err
	})

	// tree spawns a grandchild, reports both pids to the caller through a
	// stream, and then blocks until cancelled.
	tree = actor.StreamFunc("test.tree", func(ctx context.Context, _ struct{}, out chan<- int) error {
		return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "grandchild")
			if err != nil {
				return err
			}
			out <- os.Getpid()
			out <- ref.PID()
			_, err = block.Call(ctx, ref, struct{}{})
			return err
		})
	})
)

// unencodable takes an argument msgpack cannot encode.
var unencodable = actor.Func("test.unencodable", func(ctx context.Context, c chan int) (int, error) { return 0, nil })

// environment reports what the actor's process was started with.
type environment struct {
	Var, Path, Dir string
	Args           []string
}

var describe = actor.Func("test.describe", func(ctx context.Context, name string) (environment, error) {
	dir, err := os.Getwd()
	return environment{Var: os.Getenv(name), Path: os.Getenv("PATH"), Dir: dir, Args: os.Args[1:]}, err
})

// exitOnCancel reports that it runs, then exits the process with code
// when its ctx is cancelled: a crash while the actor is being stopped.
var exitOnCancel = actor.StreamFunc("test.exitOnCancel", func(ctx context.Context, code int, out chan<- int) error {
	out <- 1
	<-ctx.Done()
	os.Exit(code)
	return nil
})

// deepTree spawns a child that spawns a grandchild, and streams both
// pids to the caller; then it waits until cancelled (or killed).
var deepTree = actor.StreamFunc("test.deepTree", func(ctx context.Context, _ struct{}, out chan<- int) error {
	return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "child")
		if err != nil {
			return err
		}
		s, err := tree.Open(ctx, ref, struct{}{})
		if err != nil {
			return err
		}
		for v := range s.C {
			out <- v
		}
		return s.Err()
	})
})

// explode panics with a runtime error of the user's code, as the tests of
// remote panics want: "assignment to entry in nil map".
//
//go:noinline
func explode() (int, error) {
	var m map[string]int
	//lint:ignore SA5000 the panic is the point: a runtime error in user code
	m["boom"] = 1
	return 0, nil
}

func signalIgnoreTerm() { signalIgnore(syscall.SIGTERM) }

// slowStopped counts, in an actor, the calls of slowStop that finished
// their clean-up.
var slowStopped atomic.Int64

var (
	// slowStop sends one item; once cancelled, it notes that its clean-up
	// began (lingerStarted counts it under key) and holds it until the test
	// releases key (endCleanup), then ends.
	slowStop = actor.StreamFunc("test.slowStop", func(ctx context.Context, key string, out chan<- int) error {
		out <- 1
		<-ctx.Done()
		lingerCount(key).Add(1)
		<-release(key) // the clean-up the caller's Close waits for
		slowStopped.Add(1)
		return ctx.Err()
	})

	slowStops = actor.Func("test.slowStops", func(ctx context.Context, _ struct{}) (int64, error) {
		return slowStopped.Load(), nil
	})

	// endCleanup lets the clean-up of slowStop under key finish.
	endCleanup = actor.Func("test.endCleanup", func(ctx context.Context, key string) (int, error) {
		close(release(key))
		return 0, nil
	})

	// failAfter sends n items, then fails.
	failAfter = actor.StreamFunc("test.failAfter", func(ctx context.Context, n int, out chan<- int) error {
		for i := range n {
			out <- i
		}
		return fmt.Errorf("after %d items: %w", n, errQuota)
	})

	// closesOut sends n items, then closes out, which it must not do.
	closesOut = actor.StreamFunc("test.closesOut", func(ctx context.Context, n int, out chan<- int) error {
		for i := range n {
			out <- i
		}
		close(out)
		return nil
	})
)

// withReader has a field msgpack cannot build: only nil decodes into it.
type withReader struct{ R io.Reader }

var (
	half = actor.Func("test.half", func(ctx context.Context, x int8) (int8, error) { return x / 2, nil })

	// Called by name only (CallByName), with arguments withReader refuses.
	_ = actor.Func("test.readerIsNil", func(ctx context.Context, a withReader) (bool, error) {
		return a.R == nil, nil
	})
)
