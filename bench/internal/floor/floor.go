// Package floor measures what the machine allows without grove: the same
// benchmark binary re-executed as a bare child process that speaks raw
// bytes on an inherited socketpair. Each grove figure is printed beside
// the floor this package gives for the same job.
package floor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/grove-rt/grove/transport"
)

// Modes of a bare child.
const (
	// Byte writes one byte and exits: the spawn floor.
	Byte = "byte"
	// PingPong reads messages of the size in the child's environment and
	// sends each back once it has all of it: the round-trip floor.
	PingPong = "pingpong"
	// Stream answers an 8-byte count n with n items of the configured
	// size, written through a 64 KiB buffer: the one-way throughput floor.
	Stream = "stream"
	// Spin writes one byte, then keeps a CPU busy until it is killed: the
	// cancellation floor.
	Spin = "spin"
	// Idle writes one byte, then waits for EOF: the memory floor.
	Idle = "idle"
)

const (
	modeEnv = "GROVE_BENCH_FLOOR"
	sizeEnv = "GROVE_BENCH_FLOOR_SIZE"
	linkFD  = 3
)

// ChildMain runs the bare child and exits when this process was started
// by Start; otherwise it returns at once. The benchmark's main function
// calls it first.
func ChildMain() {
	mode := os.Getenv(modeEnv)
	if mode == "" {
		return
	}
	os.Exit(serve(mode, os.Getenv(sizeEnv)))
}

func serve(mode, sizeText string) int {
	nc, err := net.FileConn(os.NewFile(linkFD, "floor"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 2
	}
	defer nc.Close()
	size, _ := strconv.Atoi(sizeText)
	switch mode {
	case Byte:
		_, _ = nc.Write([]byte{1})
	case PingPong:
		buf := make([]byte, max(size, 1))
		for {
			if _, err := io.ReadFull(nc, buf); err != nil {
				return 0
			}
			if _, err := nc.Write(buf); err != nil {
				return 0
			}
		}
	case Stream:
		item := make([]byte, max(size, 1))
		w := bufio.NewWriterSize(nc, 64<<10)
		var hdr [8]byte
		for {
			if _, err := io.ReadFull(nc, hdr[:]); err != nil {
				return 0
			}
			for range binary.LittleEndian.Uint64(hdr[:]) {
				_, _ = w.Write(item)
			}
			if err := w.Flush(); err != nil {
				return 0
			}
		}
	case Spin:
		_, _ = nc.Write([]byte{1})
		x := uint64(1)
		for {
			x = x*6364136223846793005 + 1442695040888963407
			if x == 0 {
				fmt.Println(x) // never: keeps the loop from being optimised away
			}
		}
	case Idle:
		_, _ = nc.Write([]byte{1})
		_, _ = io.Copy(io.Discard, nc)
	default:
		fmt.Fprintf(os.Stderr, "floor: unknown mode %q\n", mode)
		return 2
	}
	return 0
}

// A Child is a bare child process and its end of the socketpair.
type Child struct {
	Conn net.Conn
	Cmd  *exec.Cmd
	size int
}

// Start execs this executable as a bare child in mode, with messages or
// items of size bytes, and returns once the process has started (not once
// it is ready: modes that write a byte first say so, see Ready). It costs
// a fork and exec.
func Start(mode string, size int) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	local, remote, err := transport.Pair()
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), modeEnv+"="+mode, sizeEnv+"="+strconv.Itoa(size))
	cmd.ExtraFiles = []*os.File{remote}
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	remote.Close()
	if err != nil {
		local.Close()
		return nil, fmt.Errorf("floor: start: %w", err)
	}
	nc, err := net.FileConn(local)
	local.Close()
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("floor: %w", err)
	}
	return &Child{Conn: nc, Cmd: cmd, size: size}, nil
}

// Ready blocks until the child has written its first byte: for Byte, Spin
// and Idle, the sign that it runs.
func (c *Child) Ready() error {
	var one [1]byte
	if _, err := io.ReadFull(c.Conn, one[:]); err != nil {
		return fmt.Errorf("floor: waiting for the child: %w", err)
	}
	return nil
}

// PID returns the child's process id.
func (c *Child) PID() int { return c.Cmd.Process.Pid }

// PingPong makes n round trips of one message of the child's size, all of
// it each way. It blocks on the child.
func (c *Child) PingPong(buf []byte, n int) error {
	for range n {
		if _, err := c.Conn.Write(buf); err != nil {
			return fmt.Errorf("floor: ping: %w", err)
		}
		if _, err := io.ReadFull(c.Conn, buf); err != nil {
			return fmt.Errorf("floor: pong: %w", err)
		}
	}
	return nil
}

// Stream asks the child for n items and reads them one item at a time
// through a buffer, as a consumer of a stream would. It blocks on the
// child.
func (c *Child) Stream(r *bufio.Reader, n int) error {
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(n))
	if _, err := c.Conn.Write(hdr[:]); err != nil {
		return fmt.Errorf("floor: stream: %w", err)
	}
	item := make([]byte, max(c.size, 1))
	for range n {
		if _, err := io.ReadFull(r, item); err != nil {
			return fmt.Errorf("floor: stream: %w", err)
		}
	}
	return nil
}

// Close closes the socket and waits for the child, which exits on EOF.
// It does not signal: see Signal for modes that never read.
func (c *Child) Close() error {
	c.Conn.Close()
	if err := c.Cmd.Wait(); err != nil {
		return fmt.Errorf("floor: child %d: %w", c.PID(), err)
	}
	return nil
}

// Signal sends sig to the child, closes the socket and waits for it. An
// exit by that signal is no error.
func (c *Child) Signal(sig syscall.Signal) error {
	_ = c.Cmd.Process.Signal(sig)
	c.Conn.Close()
	err := c.Cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == sig {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("floor: child %d: %w", c.PID(), err)
	}
	return nil
}

// SpawnOnce measures the spawn floor: from exec to the first byte read
// from a Byte child. Reaping is outside the measured time.
func SpawnOnce() (time.Duration, error) {
	start := time.Now()
	c, err := Start(Byte, 0)
	if err != nil {
		return 0, err
	}
	err = c.Ready()
	d := time.Since(start)
	return d, errors.Join(err, c.Close())
}
