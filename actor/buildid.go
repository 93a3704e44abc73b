package actor

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
	"sync"
)

// BuildID returns this executable's identity, which a host checks before
// it runs an actor for a parent on another host ([PlaceSpec].Build): the
// Go build ID the linker writes into every Go executable (what
// "go tool buildid" prints; it changes whenever the executable's content
// does), or, where there is none (a build with -buildid=, a file that
// cannot be read), "sha256:" and the hex sha256 of the executable's
// file, or "" if even that cannot be read. The first call reads the ELF
// headers and note (or up to 64 KiB of another format; all of it, for the
// sha256); later calls return
// the cached value. (Not the sha256 first: hashing a large binary takes
// tens of milliseconds, the note a few reads.)
func BuildID() string { return buildID() }

// buildID is computed once: the executable does not change under a
// running process (a file replaced on disk is a new inode).
var buildID = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	if id := elfBuildID(f); id != "" {
		return id
	}
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	if id := goBuildID(head[:n]); id != "" {
		return id
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
})

// elfBuildID reads the Go build ID from an ELF executable's note
// .note.go.buildid (namesz, descsz, type, "Go\x00\x00", then the id): the
// headers and the note, a few hundred bytes.
func elfBuildID(r io.ReaderAt) string {
	ef, err := elf.NewFile(r)
	if err != nil {
		return ""
	}
	sec := ef.Section(".note.go.buildid")
	if sec == nil {
		return ""
	}
	note, err := sec.Data()
	if err != nil || len(note) < 16 {
		return ""
	}
	bo := ef.ByteOrder
	namesz, descsz := bo.Uint32(note), bo.Uint32(note[4:])
	if namesz != 4 || string(note[12:16]) != "Go\x00\x00" || uint64(len(note)) < 16+uint64(descsz) {
		return ""
	}
	return string(note[16 : 16+descsz])
}

// goBuildID finds the Go build ID in the first bytes of an executable: the
// linker's text symbol go:buildid, `\xff Go build ID: "` and the id, then
// `"\n \xff`, in every object format.
func goBuildID(b []byte) string {
	const begin, end = "\xff Go build ID: \"", "\"\n \xff"
	i := bytes.Index(b, []byte(begin))
	if i < 0 {
		return ""
	}
	b = b[i+len(begin):]
	j := bytes.Index(b, []byte(end))
	if j <= 0 {
		return ""
	}
	return string(b[:j])
}
