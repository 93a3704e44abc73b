//go:build !linux

package main

import (
	"context"
	"errors"

	"github.com/grove-rt/grove/bench/internal/report"
)

// agentMain is a no-op: the cross-host figures run their agents on Linux.
func agentMain() {}

// figCluster fails: its agents and faults need Linux (process groups,
// Pdeathsig, /proc).
func figCluster(context.Context, settings) ([]report.Figure, error) {
	return nil, errors.New("the cross-host figures run on Linux only")
}
