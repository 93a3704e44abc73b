package actor

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// An ExitError's host crosses the wire (in the exit's message, until the
// exit map has a key for it) and survives relaying by another actor.
func TestExitErrorHostCrossesTheWire(t *testing.T) {
	t.Parallel()
	child := transport.ActorID{Name: "w", ID: "1", PID: 10}
	relay := transport.ActorID{Name: "mid", ID: "2", PID: 20}
	cases := []struct {
		name string
		ee   *ExitError
	}{
		{"remote exit", &ExitError{Actor: child, Host: "b", Code: 3, Stderr: "tail\n"}},
		{"remote signal", &ExitError{Actor: child, Host: "gpu-1", Code: -1, Signal: syscall.SIGKILL}},
		{"local", &ExitError{Actor: child, Code: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ei := errorInfo(relay, fmt.Errorf("load: %w", c.ee), "")
			var got *ExitError
			require.ErrorAs(t, remoteError(ei), &got)
			require.Equal(t, c.ee.Host, got.Host)
			require.Equal(t, c.ee.Code, got.Code)
			require.Equal(t, c.ee.Signal, got.Signal)
			require.Equal(t, []transport.ActorID{relay}, got.Via)
		})
	}
}

// The host sentinels match across processes, through a RemoteError.
func TestHostSentinelsMatchAcrossTheWire(t *testing.T) {
	t.Parallel()
	self := transport.ActorID{Name: "w", ID: "1", PID: 10}
	for _, s := range []error{ErrHostLost, ErrHostUnavailable, ErrBuildMismatch, ErrNoCapacity, ErrNotAuthorized} {
		err := remoteError(errorInfo(self, fmt.Errorf("spawn: %w", s), ""))
		require.True(t, errors.Is(err, s), "%v", s)
	}
	lost := &HostLostError{Actor: self, Host: "b", Reason: "silent"}
	require.True(t, errors.Is(remoteError(errorInfo(self, lost, "")), ErrHostLost))
}
