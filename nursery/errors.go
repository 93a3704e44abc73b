package nursery

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
)

// A PanicError is a panic recovered from the body or a child of a nursery.
// It cancels the nursery like any other error; the process keeps running.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the panicking goroutine's stack, as printed by
	// [runtime/debug.Stack], taken where the panic was recovered: it names
	// the function that panicked.
	Stack []byte
}

// Error returns the panic value followed by the stack, the way Go prints an
// unrecovered panic.
func (e *PanicError) Error() string {
	return fmt.Sprintf("nursery: panic: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error, so that errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// call runs fn, turning a panic into a *PanicError.
func call(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError(p)
		}
	}()
	return fn()
}

// panicError makes p, a value just recovered, a *PanicError with the stack
// of the goroutine that panicked. Call it in the deferred function that
// recovered, so that the stack still holds the panicking frames.
func panicError(p any) *PanicError {
	return &PanicError{Value: p, Stack: debug.Stack()}
}

func isPanic(err error) bool {
	_, ok := err.(*PanicError)
	return ok
}

// group is the error of a nursery in which more than one task failed.
type group struct{ errs []error }

// Error puts each error on its own line, as errors.Join does.
func (g *group) Error() string {
	msgs := make([]string, len(g.errs))
	for i, err := range g.errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.Is and errors.As find each error.
func (g *group) Unwrap() []error { return g.errs }

// join returns nil, the single error, or a group of them.
func join(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return &group{errs: errs}
}

// joinType is the type of the errors errors.Join returns.
var joinType = reflect.TypeOf(errors.Join(errGoexit))

// bareGroup returns the members of err if it is a group that adds no words
// of its own: a nursery's, or one made by errors.Join.
func bareGroup(err error) ([]error, bool) {
	if g, ok := err.(*group); ok {
		return g.errs, true
	}
	if err != nil && reflect.TypeOf(err) == joinType {
		return err.(interface{ Unwrap() []error }).Unwrap(), true
	}
	return nil, false
}

// Errors lists the individual failures in an error returned by [Run]: the
// leaves, with the errors of nested nurseries (returned unwrapped by a
// child) and of [errors.Join] flattened into the list. It returns nil for nil
// and a one-element slice for an error that holds a single failure. An error
// that wraps a nursery's error with fmt.Errorf("...: %w") counts as one
// failure, since its message belongs to all of them.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	members, ok := bareGroup(err)
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range members {
		out = append(out, Errors(e)...)
	}
	return out
}
