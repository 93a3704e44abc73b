// Command trio_style is grove's main demo: Trio's structured concurrency
// in Go. It shows a nursery waiting for its children, Start handing back a
// ready service, a failure cancelling the siblings and flowing up, and the
// deadline scopes. Ctrl-C cancels the whole tree and every task is joined
// before the program exits.
//
//	go run ./examples/trio_style
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/grove-rt/grove/nursery"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "trio_style:", err)
		os.Exit(1)
	}
}

// run plays the four scenes in order and returns the first unexpected error.
func run(ctx context.Context, w io.Writer) error {
	scenes := []struct {
		title string
		play  func(context.Context, io.Writer) error
	}{
		{"fan-out: the nursery waits for every child", fanOut},
		{"Start: a service reports ready before the caller goes on", startService},
		{"a child fails: its siblings are cancelled and the error flows up", failure},
		{"deadline scopes: move on, or fail", deadlines},
	}
	for i, s := range scenes {
		fmt.Fprintf(w, "%d. %s\n", i+1, s.title)
		if err := s.play(ctx, w); err != nil {
			return fmt.Errorf("scene %d: %w", i+1, err)
		}
	}
	return nil
}

func fanOut(ctx context.Context, w io.Writer) error {
	results := make(chan string, 3)
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		for i, d := range []time.Duration{30, 10, 20} {
			n.Go(func(ctx context.Context) error {
				select {
				case <-time.After(d * time.Millisecond):
					results <- fmt.Sprintf("child %d done after %dms", i, d)
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}
		return nil // returning does not cancel the children: Run waits
	})
	close(results)
	var lines []string
	for r := range results {
		lines = append(lines, r)
	}
	slices.Sort(lines) // children finish in any order; print them stably
	for _, l := range lines {
		fmt.Fprintln(w, "  ", l)
	}
	return err
}

func startService(ctx context.Context, w io.Writer) error {
	return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		type request struct {
			word  string
			reply chan int
		}
		inbox, err := nursery.Start(n, func(ctx context.Context, started func(chan<- request)) error {
			inbox := make(chan request)
			started(inbox) // the caller's Start returns now
			for {
				select {
				case r := <-inbox:
					r.reply <- len(r.word)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
		if err != nil {
			return err
		}
		for _, word := range []string{"structured", "concurrency"} {
			r := request{word: word, reply: make(chan int, 1)}
			inbox <- r
			fmt.Fprintf(w, "   service: len(%q) = %d\n", word, <-r.reply)
		}
		n.Cancel(nil) // a clean stop: Run returns nil
		return nil
	})
}

var errRefused = errors.New("connection refused")

func failure(ctx context.Context, w io.Writer) error {
	siblingCause := make(chan error, 1)
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done() // a long download, cancelled
			siblingCause <- context.Cause(ctx)
			return ctx.Err()
		})
		n.Go(func(ctx context.Context) error {
			return fmt.Errorf("fetch %q: %w", "b", errRefused)
		})
		return nil
	})
	fmt.Fprintln(w, "   sibling cancelled because:", <-siblingCause)
	fmt.Fprintln(w, "   Run returned:", err)
	if !errors.Is(err, errRefused) {
		return fmt.Errorf("expected the child's error, got %v", err)
	}
	return nil
}

func deadlines(ctx context.Context, w io.Writer) error {
	slow := func(ctx context.Context) error {
		select {
		case <-time.After(time.Hour):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	timedOut, err := nursery.MoveOnAfter(ctx, 20*time.Millisecond, slow)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "   MoveOnAfter(20ms): timed out =", timedOut)
	err = nursery.FailAfter(ctx, 20*time.Millisecond, slow)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintln(w, "   FailAfter(20ms): errors.Is(err, nursery.ErrTooSlow) =", errors.Is(err, nursery.ErrTooSlow))
	return nil
}
