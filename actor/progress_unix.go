//go:build unix

package actor

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The page reaches the actor as file descriptor 4, announced by envProgress.
const (
	envProgress = "GROVE_ACTOR_PROGRESS"
	progressFD  = 4
	progressLen = 8 * progressWords
)

// newProgressFile makes the file behind a child's page: an unlinked
// temporary file (the page cache holds it; nothing reaches a disk). nil if
// it cannot be made: the actor then runs without a page.
func newProgressFile() *os.File {
	f, err := os.CreateTemp("", "grove-progress-")
	if err != nil {
		return nil
	}
	_ = os.Remove(f.Name())
	if err := f.Truncate(progressLen); err != nil {
		f.Close()
		return nil
	}
	return f
}

// readProgress reads a dead child's page and closes its file.
func readProgress(f *os.File) progressReport {
	if f == nil {
		return progressReport{}
	}
	defer f.Close()
	var b [progressLen]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return progressReport{}
	}
	w := func(i int) uint64 { return binary.NativeEndian.Uint64(b[8*i:]) }
	return progressReport{valid: w(0) == progressMagic, begun: w(1), batch: w(2), finished: w(3), finishedBefore: w(4)}
}

// openProgress maps the page this actor process was given, for good (it
// lives as long as the process), or returns nil if it has none.
func openProgress() *progress {
	given := os.Getenv(envProgress) == "1"
	_ = os.Unsetenv(envProgress) // for this actor's own children
	if !given {
		return nil
	}
	f := os.NewFile(progressFD, "grove-progress")
	if f == nil {
		return nil
	}
	defer f.Close()
	mem, err := syscall.Mmap(progressFD, 0, progressLen, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	words := (*[progressWords]atomic.Uint64)(unsafe.Pointer(&mem[0]))
	words[0].Store(progressMagic)
	return &progress{begun: &words[1], batch: &words[2], finished: &words[3], finishedBefore: &words[4]}
}
