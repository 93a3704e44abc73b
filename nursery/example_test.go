package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grove-rt/grove/nursery"
)

func ExampleRun() {
	squares := make([]int, 5)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		for i := range squares {
			n.Go(func(ctx context.Context) error {
				squares[i] = i * i
				return nil
			})
		}
		return nil // Run still waits for every child
	})
	fmt.Println(squares, err)
	// Output: [0 1 4 9 16] <nil>
}

func ExampleNursery_Go() {
	errDiskFull := errors.New("disk full")
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done() // a long-running sibling
			fmt.Println("sibling cancelled because:", context.Cause(ctx))
			return ctx.Err() // dropped: the nursery caused it
		})
		n.Go(func(ctx context.Context) error { return errDiskFull })
		return nil
	})
	fmt.Println("Run returned:", err)
	// Output:
	// sibling cancelled because: disk full
	// Run returned: disk full
}

func ExampleStart() {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		// Start a service and wait until it is ready to take requests.
		requests, err := nursery.Start(n, func(ctx context.Context, started func(chan<- string)) error {
			inbox := make(chan string)
			started(inbox)
			for {
				select {
				case name := <-inbox:
					fmt.Println("hello,", name)
				case <-ctx.Done():
					return nil
				}
			}
		})
		if err != nil {
			return err
		}
		requests <- "trio"
		requests <- "grove"
		n.Cancel(nil) // a clean stop: Run returns nil
		return nil
	})
	fmt.Println("Run returned:", err)
	// Output:
	// hello, trio
	// hello, grove
	// Run returned: <nil>
}

func ExampleMoveOnAfter() {
	timedOut, err := nursery.MoveOnAfter(context.Background(), 10*time.Millisecond, func(ctx context.Context) error {
		select {
		case <-time.After(time.Hour): // work that takes too long
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	fmt.Println("timed out:", timedOut, "error:", err)
	// Output: timed out: true error: <nil>
}

func ExampleFailAfter() {
	err := nursery.FailAfter(context.Background(), 10*time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	fmt.Println(errors.Is(err, nursery.ErrTooSlow))
	// Output: true
}

func ExampleErrors() {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errors.New("fetch failed") })
		<-ctx.Done()
		return errors.New("body cleanup failed")
	})
	for _, e := range nursery.Errors(err) {
		fmt.Println("-", e)
	}
	// Output:
	// - fetch failed
	// - body cleanup failed
}

func ExampleShield() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the work was cancelled...
	cleanup, done := nursery.Shield(ctx, time.Second)
	defer done()
	fmt.Println("work:", ctx.Err(), "| cleanup:", cleanup.Err()) // ...but cleanup may still run
	// Output: work: context canceled | cleanup: <nil>
}
