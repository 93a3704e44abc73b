//go:build !unix

package actor

import (
	"context"
	"fmt"
	"runtime"

	"github.com/grove-rt/grove/transport"
)

// Actors cannot be processes here (js, wasip1, windows, plan9: see
// processSupport): every actor runs on the goroutine backend (see
// backend.go), or on another host (OnHost), and Main has nothing to serve.

func serveParent() int { return 2 }

func startProcess(ctx context.Context, name string, cfg config) (*Ref, error) {
	return nil, processSupport(runtime.GOOS)
}

func startProc(ctx context.Context, id transport.ActorID, cfg *config, prefix string) (*Process, error) {
	return nil, fmt.Errorf("actor: start %s: %w", id.Name, processSupport(runtime.GOOS))
}
