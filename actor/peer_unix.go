//go:build unix

package actor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

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
	return filepath.Join(os.TempDir(), fmt.Sprintf("grove-%d", os.Getuid()), id.ID+"-"+newID()+".sock")
}

func dialUnix(ctx context.Context, addr string, opts ...transport.Option) (*transport.Conn, error) {
	return transport.DialUnix(ctx, addr, opts...)
}

func listenUnix(addr string, opts ...transport.Option) (*transport.Listener, error) {
	return transport.ListenUnix(addr, opts...)
}
