package actor

import (
	"context"
	"errors"
	"fmt"

	"github.com/grove-rt/grove/nursery"
)

// RunIn is Tractor's run_in_actor: it spawns a one-shot actor named after
// f, runs f there with in, returns the result, and reaps the actor before
// returning. It costs a spawn (a few milliseconds: see [Spawn]) plus the
// call.
func RunIn[In, Out any](ctx context.Context, f *Function[In, Out], in In, opts ...Option) (Out, error) {
	var out Out
	switch {
	case ctx == nil:
		return out, errors.New("actor: RunIn: nil ctx: pass the caller's ctx (or context.Background())")
	case f == nil:
		return out, fmt.Errorf("actor: RunIn: nil *Function[%T, %T]: declare it with actor.Func", in, out)
	}
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := Spawn(ctx, n, f.name, opts...)
		if err != nil {
			return err
		}
		defer ref.Cancel()
		out, err = f.Call(ctx, ref, in)
		return err
	})
	return out, err
}
