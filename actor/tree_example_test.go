package actor_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

func ExampleTree() {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		tree, err := actor.Tree(ctx) // this process, and every actor below it
		if err != nil {
			return err
		}
		for _, c := range tree.Children {
			if c.ID == ref.ID() {
				fmt.Println(tree.Name, "->", c.Name, c.State)
			}
		}
		// tree.WriteTo(os.Stdout) prints it as a table, as `grove ps PID` does.
		n.Cancel(nil)
		return nil
	})
	fmt.Println("Run returned:", err)
	// Output:
	// root -> worker serving
	// Run returned: <nil>
}

func ExampleDumpStacks() {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		var buf bytes.Buffer // os.Stderr, say
		if err := actor.DumpStacks(ctx, &buf); err != nil {
			return err
		}
		fmt.Println(strings.Contains(buf.String(), "=== actor worker["+ref.ID()+"]"))
		n.Cancel(nil)
		return nil
	})
	fmt.Println("Run returned:", err)
	// Output:
	// true
	// Run returned: <nil>
}

// A program opts in to `go run github.com/grove-rt/grove/cmd/grove ps PID`
// (and `stacks PID`) by serving its tree view on a Unix socket that only
// its own user can reach (Linux).
func ExampleServeDebug() {
	ctx := context.Background()
	d, err := actor.ServeDebug(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close() // stops serving and removes the socket
	// ... the program's work, in nurseries and actors ...
}
