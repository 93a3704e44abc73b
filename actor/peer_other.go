//go:build !unix

package actor

import (
	"context"
	"errors"

	"github.com/grove-rt/grove/transport"
)

// unixSockets says peers in other processes can be reached here: not
// without Unix sockets, where every actor lives in this process anyway.
const unixSockets = false

func peerAddress(transport.ActorID) string { return "" }

func dialUnix(context.Context, string, ...transport.Option) (*transport.Conn, error) {
	return nil, errors.New("actor: peers in other processes need Unix sockets")
}

func listenUnix(string, ...transport.Option) (*transport.Listener, error) {
	return nil, errors.New("actor: no Unix sockets here")
}

// socketGone: there are no sockets to be gone.
func socketGone(error) bool { return false }
