package actor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

var (
	// ErrNotStarted is matched, beside the actor's [*ExitError], by a call
	// (or an item of [CallBatch]) that the actor's process died before it
	// began to run: it had no effect, and may be run elsewhere as if for the
	// first time. It is known exactly on the process backend (see
	// progress page in DESIGN.md); elsewhere a death fails calls without it.
	ErrNotStarted = errors.New("actor: the actor died before the call began")

	// ErrResultLost is matched, beside the actor's [*ExitError], by an item
	// of [CallBatch] that ran to its end in an actor whose process died
	// before it sent the item's result: its effects happened, its result is
	// lost.
	ErrResultLost = errors.New("actor: the actor died after the item ran, before it sent the result")
)

// A progress page is a few words of memory that an actor process shares
// with its parent (progress_unix.go), where the actor notes, with atomic
// stores, the call it began last and how far it got in a batch. The parent
// reads it once the process is dead, to tell which calls never began and
// which item of a batch was running: the one call a crash failed.
//
// The words, native-endian uint64s:
//
//	0: progressMagic, once the actor has mapped the page
//	1: the highest call (stream) id the actor began to run
//	2: the low 32 bits of the id of the call begun last, then 32 bits of
//	   item state: 2i+1 while item i of a batch runs, 2i once i items are done
//	3: the id of the batch that ran all its items last (a batch queued
//	   behind it may have begun since, and overwritten word 2)
//	4: the id of the batch that ran all its items before that one
//
// Two finished batches, because a batch's last part is sent after it
// leaves the gate: while a stalled writer holds it, the batch behind may
// run all its items too, and its finish must not erase the first one's.
// A Map worker has at most two batches in its actor (one queued behind
// the running one), so its page is exact; a longer [StartBatch] chain
// whose three finished batches all wait in a stalled writer gives the
// oldest the bare death.
const (
	progressMagic = 0x31_67_70_65_76_6f_72_67 // "grovepg1"
	progressWords = 5
)

// progress is an actor's side of its page: nil when it has none (on the
// goroutine backend, or for an actor started by an older parent).
type progress struct{ begun, batch, finished, finishedBefore *atomic.Uint64 }

// begin notes that call id is about to run. The batch word comes first: a
// death between the two stores reads as "never began", which is true.
func (p *progress) begin(id uint64) {
	if p == nil {
		return
	}
	p.batch.Store(uint64(uint32(id)) << 32)
	for {
		old := p.begun.Load()
		if old >= id || p.begun.CompareAndSwap(old, id) {
			return
		}
	}
}

// item notes the item state of batch id (see the page's layout).
func (p *progress) item(id uint64, state uint32) {
	if p != nil {
		p.batch.Store(uint64(uint32(id))<<32 | uint64(state))
	}
}

// finish notes that batch id has run all its items. The batch finished
// before moves to word 4 first: a death between the two stores leaves it
// in both words, which is still true.
func (p *progress) finish(id uint64) {
	if p != nil {
		p.finishedBefore.Store(p.finished.Load())
		p.finished.Store(id)
	}
}

type progressKey struct{}

func withProgress(ctx context.Context, p *progress) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, progressKey{}, p)
}

// progressOf returns the page of the actor serving ctx's call, or nil.
func progressOf(ctx context.Context) *progress {
	p, _ := ctx.Value(progressKey{}).(*progress)
	return p
}

// progressReport is a page as the parent read it after the process died.
type progressReport struct {
	valid                                  bool
	begun, batch, finished, finishedBefore uint64
}

// callFate says what the dead actor did of call id: whether that is known
// (the process has been waited for and had a page), whether the call
// began, and for a batch its item state (stateOK when the page's batch word
// is this call's).
func (r *Ref) callFate(id uint64) (known, began bool, state uint32, stateOK bool) {
	p, ok := r.run.(*Process) // only a process of this host has a page
	if !ok || !closed(p.done) {
		return false, false, 0, false
	}
	pg := p.progress
	if !pg.valid {
		return false, false, 0, false
	}
	if pg.begun < id {
		return true, false, 0, false
	}
	return true, true, uint32(pg.batch), uint32(pg.batch>>32) == uint32(id)
}

// batchFinished says whether the dead actor ran every item of batch id,
// as one of the two batches it finished last.
func (r *Ref) batchFinished(id uint64) bool {
	p, ok := r.run.(*Process)
	if !ok || !closed(p.done) || !p.progress.valid {
		return false
	}
	return p.progress.finished == id || p.progress.finishedBefore == id
}

// notBegun marks err, the failure of call id because its actor ended, with
// ErrNotStarted when the actor's process died (or Kill killed it) and
// never began the call; a stopped actor's calls get ErrStopped alone.
func (r *Ref) notBegun(id uint64, err error) error {
	if !r.exitReported() {
		return err
	}
	if known, began, _, _ := r.callFate(id); known && !began {
		return fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	return err
}

// notOpened is notBegun for a call whose open failed, so that its id, if
// it got one, is unknown: it is above every id opened before (before), so
// the call never began if the actor had begun none after those.
func (r *Ref) notOpened(before uint64, err error) error {
	if !r.exitReported() {
		return err
	}
	if known, began, _, _ := r.callFate(before + 1); known && !began {
		return fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	return err
}
