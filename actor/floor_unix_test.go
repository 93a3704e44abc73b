//go:build unix

package actor_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// The floors re-execute the test binary as a bare peer on an inherited
// socketpair (file descriptor 3), without grove.
const floorEnv = "GROVE_ACTOR_TEST_FLOOR"

func runFloor(mode string) int {
	nc, err := net.FileConn(os.NewFile(3, "floor"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	switch mode {
	case "byte": // spawn floor: one byte, then exit
		_, _ = nc.Write([]byte{1})
		return 0
	case "payload": // payload floor: read a length and that many bytes, send them back
		var hdr [4]byte
		var buf []byte
		for {
			if _, err := io.ReadFull(nc, hdr[:]); err != nil {
				return 0
			}
			n := int(binary.BigEndian.Uint32(hdr[:]))
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			if _, err := io.ReadFull(nc, buf[:n]); err != nil {
				return 0
			}
			if _, err := nc.Write(buf[:n]); err != nil {
				return 0
			}
		}
	case "spin": // cancel floor: one byte, then keep a CPU busy until killed
		_, _ = nc.Write([]byte{1})
		x := uint64(1)
		for {
			x = x*6364136223846793005 + 1442695040888963407
		}
	case "pingpong": // call floor: echo 64-byte messages
		var buf [64]byte
		for {
			if _, err := io.ReadFull(nc, buf[:]); err != nil {
				return 0
			}
			if _, err := nc.Write(buf[:]); err != nil {
				return 0
			}
		}
	}
	return 2
}

// startFloor starts the bare peer in mode and returns its socket.
func startFloor(b *testing.B, mode string) (net.Conn, *exec.Cmd) {
	local, remote, err := transport.Pair()
	require.NoError(b, err)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), floorEnv+"="+mode)
	cmd.ExtraFiles = []*os.File{remote}
	require.NoError(b, cmd.Start())
	remote.Close()
	nc, err := net.FileConn(local)
	local.Close()
	require.NoError(b, err)
	return nc, cmd
}
