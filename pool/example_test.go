package pool_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/grove-rt/grove/pool"
)

// square is declared once as a package-level variable (see main_test.go):
//
//	var square = actor.Func("pooltest.square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})

func ExampleSubmit() {
	ctx := context.Background()
	p, err := pool.New(ctx, pool.WithWorkers(2))
	if err != nil {
		panic(err)
	}
	defer p.Shutdown(ctx)
	f := pool.Submit(ctx, p, square, 9) // runs in a worker process
	v, err := f.Result(ctx)
	fmt.Println(v, err)
	// Output: 81 <nil>
}

func ExampleMap() {
	ctx := context.Background()
	p, err := pool.New(ctx, pool.WithWorkers(2))
	if err != nil {
		panic(err)
	}
	defer p.Shutdown(ctx)
	var out []int
	for v, err := range pool.Map(ctx, p, square, slices.Values([]int{1, 2, 3, 4, 5})) {
		if err != nil {
			panic(err)
		}
		out = append(out, v) // in input order
	}
	fmt.Println(out)
	// Output: [1 4 9 16 25]
}
