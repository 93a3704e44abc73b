package cluster_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/grove-rt/grove/actor"
)

// The functions the tests' remote actors run: the test binary is the
// agents' executable and theirs.
var (
	pid = actor.Func("ctest.pid", func(ctx context.Context, _ struct{}) (int, error) { return os.Getpid(), nil })

	environ = actor.Func("ctest.environ", func(ctx context.Context, _ struct{}) ([]string, error) { return os.Environ(), nil })

	panicky = actor.Func("ctest.panicky", func(ctx context.Context, _ struct{}) (int, error) { panic("kaboom") })

	exit = actor.Func("ctest.exit", func(ctx context.Context, code int) (int, error) {
		fmt.Fprintln(os.Stderr, "about to exit with", code)
		os.Exit(code)
		return 0, nil
	})

	chatty = actor.Func("ctest.chatty", func(ctx context.Context, n int) (int, error) {
		for i := range n {
			fmt.Printf("line %d\n", i)
		}
		return n, nil
	})

	count = actor.StreamFunc("ctest.count", func(ctx context.Context, n int, out chan<- int) error {
		for i := range n {
			select {
			case out <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})

	upper = actor.DuplexFunc("ctest.upper", func(ctx context.Context, in <-chan string, out chan<- string) error {
		for s := range in {
			select {
			case out <- strings.ToUpper(s):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})

	block = actor.Func("ctest.block", func(ctx context.Context, _ struct{}) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})

	// headstrong ignores its ctx and, if asked, SIGTERM, after reporting
	// that it runs.
	headstrong = actor.StreamFunc("ctest.headstrong", func(ctx context.Context, ignoreTerm bool, out chan<- int) error {
		if ignoreTerm {
			signal.Ignore(syscall.SIGTERM)
		}
		out <- os.Getpid()
		select {}
	})
)
