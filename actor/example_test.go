package actor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// Functions are declared once, as package-level variables; this file uses
// square, fail and count from funcs_test.go:
//
//	var square = actor.Func("test.square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})

func ExampleSpawn() {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker") // a child process of this binary
		if err != nil {
			return err
		}
		v, err := square.Call(ctx, ref, 7) // computed in the child
		if err != nil {
			return err
		}
		fmt.Println("7² =", v)
		n.Cancel(nil) // done: stop the actor; Run reaps it
		return nil
	})
	fmt.Println("Run returned:", err)
	// Output:
	// 7² = 49
	// Run returned: <nil>
}

func ExampleRunIn() {
	v, err := actor.RunIn(context.Background(), square, 12) // spawn, call, reap
	fmt.Println(v, err)
	// Output: 144 <nil>
}

func ExampleStreamFunc() {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "counter")
		if err != nil {
			return err
		}
		s, err := count.Open(ctx, ref, 5)
		if err != nil {
			return err
		}
		var items []int
		for v := range s.C { // items arrive as the actor sends them
			items = append(items, v)
		}
		fmt.Println(items)
		n.Cancel(nil)
		return s.Err()
	})
	fmt.Println(err)
	// Output:
	// [0 1 2 3 4]
	// <nil>
}

func ExampleRemoteError() {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "uploader")
		if err != nil {
			return err
		}
		_, err = fail.Call(ctx, ref, "upload")
		return err // the remote error fails the nursery, which stops the actor
	})
	var re *actor.RemoteError
	fmt.Println(errors.As(err, &re), re.Source.Name, re.Message)
	fmt.Println(errors.Is(err, errQuota)) // a registered sentinel, across processes
	// Output:
	// true uploader upload: quota exceeded
	// true
}
