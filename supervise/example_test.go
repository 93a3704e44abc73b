package supervise_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/grove-rt/grove/supervise"
)

// A worker that fails once is restarted; the supervisor ends once both
// children have ended normally.
func Example() {
	attempts := 0
	err := supervise.Run(context.Background(), supervise.Spec{
		Strategy: supervise.OneForOne,
		Children: []supervise.Child{
			{Name: "flaky", Restart: supervise.Transient, Run: func(ctx context.Context) error {
				attempts++
				if attempts == 1 {
					return errors.New("first attempt fails")
				}
				return nil
			}},
		},
		OnEvent: func(e supervise.Event) { fmt.Println(e.Kind, e.Child, e.Err) },
	})
	fmt.Println("attempts:", attempts, "err:", err)
	// Output:
	// started flaky <nil>
	// failed flaky first attempt fails
	// restarted flaky <nil>
	// started flaky <nil>
	// attempts: 2 err: <nil>
}
