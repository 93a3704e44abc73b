package pool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/pool"
)

func TestMain(m *testing.M) {
	actor.Main() // workers are this test binary, re-executed
	leakcheck.Main(m)
}

var errTask = errors.New("task failed")

func init() { actor.RegisterError("pool_test.errTask", errTask) }

// The tasks the tests' workers run.
var (
	noop   = actor.Func("pooltest.noop", func(ctx context.Context, x int) (int, error) { return x, nil })
	square = actor.Func("pooltest.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	pid    = actor.Func("pooltest.pid", func(ctx context.Context, _ int) (int, error) { return os.Getpid(), nil })
	fail   = actor.Func("pooltest.fail", func(ctx context.Context, x int) (int, error) {
		return 0, fmt.Errorf("input %d: %w", x, errTask)
	})
	panicky = actor.Func("pooltest.panic", func(ctx context.Context, x int) (int, error) {
		panic(fmt.Sprintf("panic on %d", x))
	})
	// exitOn exits the worker with code 42 for input 0, squares the rest.
	exitOn = actor.Func("pooltest.exitOn", func(ctx context.Context, x int) (int, error) {
		if x == 0 {
			os.Exit(42)
		}
		return x * x, nil
	})
	// signalOn kills its own worker with sig for input 0.
	signalOn = actor.Func("pooltest.signalOn", func(ctx context.Context, in [2]int) (int, error) {
		if in[0] == 0 {
			die(in[1])
		}
		return in[0], nil
	})
	alwaysExit = actor.Func("pooltest.alwaysExit", func(ctx context.Context, x int) (int, error) {
		os.Exit(3)
		return 0, nil
	})
	// killPID kills another process (a sibling worker), then reports.
	killPID = actor.Func("pooltest.killPID", func(ctx context.Context, target int) (int, error) {
		return 0, kill(target)
	})
	sleepy = actor.Func("pooltest.sleep", func(ctx context.Context, ms int) (int, error) {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return ms, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	// hold writes path+".started", waits for its ctx, then writes
	// path+".cancelled": a task the tests can see begin, and see cancelled
	// in the worker.
	hold = actor.Func("pooltest.hold", func(ctx context.Context, path string) (int, error) {
		if err := os.WriteFile(path+".started", nil, 0o600); err != nil {
			return 0, err
		}
		<-ctx.Done()
		return 0, errors.Join(ctx.Err(), os.WriteFile(path+".cancelled", nil, 0o600))
	})
	initOK   = actor.Func("pooltest.initOK", func(ctx context.Context, _ int) (int, error) { return 0, nil })
	initFail = actor.Func("pooltest.initFail", func(ctx context.Context, _ int) (int, error) {
		return 0, errors.New("no database")
	})
	// leak keeps 50 MiB more each call, touched so that it is resident.
	leak = actor.Func("pooltest.leak", func(ctx context.Context, x int) (int, error) {
		b := make([]byte, 50<<20)
		for i := range b {
			if i%4096 == 0 {
				b[i] = 1
			}
		}
		leaked = append(leaked, b)
		return os.Getpid(), nil
	})
	unencodable = actor.Func("pooltest.chan", func(ctx context.Context, c chan int) (int, error) { return 0, nil })
	// badResultAsInt is declared in the parent as returning an int, while
	// the workers register the same name returning a string: the result
	// cannot decode. (GROVE_ACTOR marks a process spawned as an actor.)
	badResultAsInt = func() *actor.Function[int, int] {
		if os.Getenv("GROVE_ACTOR") == "1" {
			actor.Func("pooltest.badResult", func(ctx context.Context, x int) (string, error) { return "text", nil })
			return nil
		}
		return actor.Func("pooltest.badResult", func(ctx context.Context, x int) (int, error) { return 0, nil })
	}()
)

var leaked [][]byte

// owner runs a pool of its own in an actor, streams the pool's worker pids
// to the caller, and then waits until it is cancelled (or killed).
var owner = actor.StreamFunc("pooltest.owner", func(ctx context.Context, workers int, out chan<- int) error {
	p, err := pool.New(ctx, pool.WithWorkers(workers))
	if err != nil {
		return err
	}
	defer p.Close()
	for len(p.PIDs()) < workers { // tasks queued at once make the pool grow
		fs := make([]*pool.Future[int], workers)
		for i := range fs {
			fs[i] = pool.Submit(context.Background(), p, square, i)
		}
		for _, f := range fs {
			if _, err := f.Result(ctx); err != nil {
				return err
			}
		}
	}
	for _, pid := range p.PIDs() {
		out <- pid
	}
	<-ctx.Done()
	return nil
})
