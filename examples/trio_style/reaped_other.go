//go:build !unix

package main

import (
	"errors"
	"io"
)

// reaped is never called here: actors cannot be processes, so the demo
// checks that their goroutines ended instead (see ended).
func reaped(io.Writer, []proc) error {
	return errors.New("trio_style: no processes to check on this platform")
}
