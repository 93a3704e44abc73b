package main

import (
	"context"
	"time"

	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/peer"
	"github.com/grove-rt/grove/bench/internal/report"
)

// settings are the sizes of a run: how many rounds, how long a sample.
type settings struct {
	quick bool
	// rounds is the number of interleaved rounds for figures whose
	// samples are quick; slow is the number for those that spawn many
	// processes per sample.
	rounds, slow int
	// target is how long a calibrated sample lasts.
	target time.Duration
	// actors is the number of actors held live by the memory figure.
	actors int
	// nurseryN, workers and payloads are the X values of the curves.
	nurseryN []int
	workers  []int
	payloads []int
	// workRounds sizes the CPU-bound task of the pool curve.
	workRounds int
	// loky is the interpreter that runs the loky peer, found once a run;
	// noLoky, when set, says why there is none.
	loky   peer.LokyPython
	noLoky error
}

func newSettings(quick bool) settings {
	if quick {
		return settings{
			quick: true, rounds: 3, slow: 2, target: 10 * time.Millisecond, actors: 8,
			nurseryN: []int{1, 4, 16}, workers: []int{1, 2, 4, 8},
			payloads:   []int{64, 1 << 10, 16 << 10, 256 << 10, 1 << 20},
			workRounds: 2000,
		}
	}
	return settings{
		rounds: 10, slow: 5, target: 100 * time.Millisecond, actors: 16,
		nurseryN: []int{1, 4, 16, 64, 256}, workers: []int{1, 2, 4, 8},
		payloads:   []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20},
		workRounds: 5000,
	}
}

// entry is one contender of a figure, or the reason it cannot run here.
type entry struct {
	measure.Contender
	absent string
}

// compare measures grove, its floor and the peers over the same
// interleaved rounds and returns their results in that order.
func compare(ctx context.Context, rounds int, grove, floor entry, peers ...entry) (report.Result, report.Result, []report.Result, error) {
	all := append([]entry{grove, floor}, peers...)
	var cs []measure.Contender
	for _, e := range all {
		if e.absent == "" {
			cs = append(cs, e.Contender)
		}
	}
	sums, err := measure.Interleave(ctx, rounds, cs...)
	if err != nil {
		return report.Result{}, report.Result{}, nil, err
	}
	results := make([]report.Result, len(all))
	k := 0
	for i, e := range all {
		results[i] = report.Result{Name: e.Name, Absent: e.absent}
		if e.absent == "" {
			results[i].Summary = sums[k]
			k++
		}
	}
	return results[0], results[1], results[2:], nil
}
