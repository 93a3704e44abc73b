package actor_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/grove-rt/grove/actor"
)

// ErrorType names an error for a metric's error.type attribute: by what it
// is, never by its text, so that a metric keeps few series.
func ExampleErrorType() {
	for _, err := range []error{
		nil,
		fmt.Errorf("actor w: f: %w", context.DeadlineExceeded),
		fmt.Errorf("load: %w", &fs.PathError{Op: "open", Path: "/etc/x", Err: fs.ErrNotExist}),
		fmt.Errorf("call: %w", actor.ErrStopped),
		errors.New("quota of user 42 exceeded"),
	} {
		fmt.Printf("%q\n", actor.ErrorType(err))
	}
	// Output:
	// ""
	// "context.DeadlineExceeded"
	// "*fs.PathError"
	// "actor.ErrStopped"
	// "*errors.errorString"
}
