//go:build js || wasip1

package actor

import (
	"context"
	"errors"
	"fmt"

	"github.com/grove-rt/grove/transport"
)

// There are no processes to spawn here: every actor runs on the goroutine
// backend (see backend.go), or on another host (OnHost), and Main has
// nothing to serve.

func serveParent() int { return 2 }

func startProcess(ctx context.Context, name string, cfg config) (*Ref, error) {
	return nil, fmt.Errorf("actor: spawn %s: processes cannot be spawned on this platform: %w", name, errors.ErrUnsupported)
}

func startProc(ctx context.Context, id transport.ActorID, cfg *config, prefix string) (*Process, error) {
	return nil, fmt.Errorf("actor: start %s: processes cannot be spawned on this platform: %w", id.Name, errors.ErrUnsupported)
}
