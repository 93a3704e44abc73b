package actor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// customError is a type of the caller's own, which names itself.
type customError struct{}

func (*customError) Error() string { return "custom" }

// TestErrorTypeNamesTheCause checks that ErrorType names what an error is,
// not the fmt wrapper grove and its callers put around it: a call's ctx
// error, a process's death, a stop, a sentinel a remote error matched.
// The names are an "error.type" attribute of metrics, so they must also
// be few: never an error's text.
func TestErrorTypeNamesTheCause(t *testing.T) {
	t.Parallel()
	exit := &ExitError{Actor: transport.ActorID{Name: "w", ID: "1"}, Code: 2}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"a ctx cancel", context.Canceled, "context.Canceled"},
		{"a ctx cancel, wrapped", fmt.Errorf("actor w: f: %w", context.Canceled), "context.Canceled"},
		{"a deadline", context.DeadlineExceeded, "context.DeadlineExceeded"},
		{"a deadline, wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", context.DeadlineExceeded)), "context.DeadlineExceeded"},
		{"a death", exit, "*actor.ExitError"},
		{"a death, wrapped", fmt.Errorf("actor w: f: %w", exit), "*actor.ExitError"},
		{"a death beside a sentinel", fmt.Errorf("%w: %w", ErrNotStarted, exit), "*actor.ExitError"},
		{"a joined error", errors.Join(io.EOF, exit), "*actor.ExitError"},
		{"a stop", fmt.Errorf("actor w: f: %w", ErrStopped), "actor.ErrStopped"},
		{"a closed stream", ErrStreamClosed, "actor.ErrStreamClosed"},
		{"a lost link", fmt.Errorf("x: %w", transport.ErrClosed), "transport.ErrClosed"},
		{"a registered sentinel, wrapped", fmt.Errorf("read: %w", io.EOF), "io.EOF"},
		{"a typed error that matches a sentinel keeps its type", &fs.PathError{Op: "open", Path: "p", Err: fs.ErrNotExist}, "*fs.PathError"},
		{"a type of the caller's", fmt.Errorf("x: %w", &customError{}), "*actor.customError"},
		{"an error of text alone", fmt.Errorf("no %d", 7), "*errors.errorString"},
		{"a remote error", remoteError(&transport.ErrorInfo{Type: "*main.quotaError", Message: "m"}), "*main.quotaError"},
		{"a remote panic", remoteError(&transport.ErrorInfo{Type: PanicType, Message: "m"}), PanicType},
		{"a remote wrapped sentinel", remoteError(&transport.ErrorInfo{Type: "*fmt.wrapError", Message: "read: EOF", Is: []string{"io.EOF"}}), "io.EOF"},
		{"a remote wrapped error of no sentinel", remoteError(&transport.ErrorInfo{Type: "*fmt.wrapError", Message: "m"}), "*fmt.wrapError"},
		{"a remote wrapped sentinel, wrapped here", fmt.Errorf("relay: %w", remoteError(&transport.ErrorInfo{Type: "*fmt.wrapError", Is: []string{"context.Canceled"}})), "context.Canceled"},
		{"a remote error, wrapped here", fmt.Errorf("relay: %w", remoteError(&transport.ErrorInfo{Type: "*main.quotaError"})), "*main.quotaError"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, ErrorType(c.err))
		})
	}
	require.Equal(t, "*errors.errorString", ErrorType(errors.New("anything")))
}
