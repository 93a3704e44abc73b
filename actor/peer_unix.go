//go:build unix

package actor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/grove-rt/grove/transport"
)

// unixSockets says peers in other processes can be reached here.
const unixSockets = true

// peerAddress is where the actor id serves its peers: a socket in Linux's
// abstract namespace (nothing on disk, gone with the process however it
// ends), elsewhere a file in this user's private directory under the
// temporary directory (removed when the registration closes).
func peerAddress(id transport.ActorID) string {
	if runtime.GOOS == "linux" {
		return "@grove/" + id.ID + "/" + newID()
	}
	return peerFile(os.TempDir())
}

// peerFile is a socket file's path under tmp: 16 hex digits in the user's
// private directory, short enough for the smallest sun_path (macOS's 104
// bytes) under any usual temporary directory. The actor's id is in the
// registration, not the path.
func peerFile(tmp string) string {
	return filepath.Join(tmp, fmt.Sprintf("grove-%d", os.Getuid()), newID()+".sock")
}

func dialUnix(ctx context.Context, addr string, opts ...transport.Option) (*transport.Conn, error) {
	return transport.DialUnix(ctx, addr, opts...)
}

func listenUnix(addr string, opts ...transport.Option) (*transport.Listener, error) {
	return transport.ListenUnix(addr, opts...)
}

// socketGone reports whether a dial failed for want of anyone listening.
func socketGone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}
