package cluster_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster"
)

// The output queued for a slow writer is bounded by what it costs in
// memory, not by its text alone: a million empty lines (a string header
// each) are not all held.
func TestLogQueueCountsEachLinesCost(t *testing.T) {
	t.Parallel()
	batch := make([]string, 1024)
	batches := make([][]string, 1024) // 1 Mi empty lines
	for i := range batches {
		batches[i] = batch
	}
	queued, dropped := cluster.QueueLogs(batches)
	require.Equal(t, 1<<20, queued+dropped)
	require.Positive(t, dropped, "every empty line was queued: 1 Mi string headers held for 1 MiB counted")
	require.LessOrEqual(t, queued*16, 1<<20, "the queue holds more than its bound")
}
