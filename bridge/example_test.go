package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/grove-rt/grove/bridge"
)

// Blocking work from code on a loop: RunSync runs it on a goroutine with
// a fresh loop of its own and waits, where a second loop on the same
// goroutine would be refused.
func ExampleRunSync() {
	err := bridge.Run(context.Background(), func(ctx context.Context) error {
		fmt.Println("on a loop:", bridge.Current(ctx) != nil)
		err := bridge.Run(ctx, func(context.Context) error { return nil })
		fmt.Println("a nested Run refused:", errors.Is(err, bridge.ErrLoopRunning))
		n, err := bridge.RunSync(ctx, func(ctx context.Context) (int, error) {
			return 6 * 7, nil // blocking work: a pool call, a fan-out
		})
		fmt.Println("RunSync:", n, err)
		return nil
	})
	fmt.Println("Run:", err)
	// Output:
	// on a loop: true
	// a nested Run refused: true
	// RunSync: 42 <nil>
	// Run: <nil>
}

// Other goroutines reach state a loop owns with Call, which runs the
// function on the loop and waits for its result.
func ExampleCall() {
	ctx := context.Background()
	l := bridge.NewLoop(bridge.WithName("counter"))
	ran := make(chan error, 1)
	go func() { ran <- l.Run(ctx) }()

	count := 0 // owned by the loop: only its callbacks touch it
	for range 3 {
		n, err := bridge.Call(ctx, l, func(ctx context.Context) (int, error) {
			count++
			return count, nil
		})
		fmt.Println("count:", n, err)
	}
	l.Stop()
	fmt.Println("Run:", <-ran)
	// Output:
	// count: 1 <nil>
	// count: 2 <nil>
	// count: 3 <nil>
	// Run: <nil>
}

// Work that must not block the loop goes with Go: the callback returns at
// once, and the result comes back on the loop later.
func ExampleGo() {
	l := bridge.NewLoop()
	_ = l.Post(func(ctx context.Context) {
		bridge.Go(ctx, func(ctx context.Context) (string, error) {
			return strings.ToUpper("fetched"), nil // runs off the loop
		}, func(s string, err error) {
			fmt.Println("back on the loop:", s, err)
			l.Stop()
		})
		fmt.Println("the loop goes on")
	})
	fmt.Println("Run:", l.Run(context.Background()))
	// Output:
	// the loop goes on
	// back on the loop: FETCHED <nil>
	// Run: <nil>
}
