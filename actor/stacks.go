package actor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// maxStacks caps the goroutine dump of one process; maxDumpAnswer the
// dumps of the whole tree, well under the transport's frame limit. The
// latter is a byte budget passed down with the request (debugArgs.Bytes):
// each level takes its own dump out of what it was given and splits the
// rest evenly among its children, and bounds each child's answer to the
// share it gave it, so that no level holds more than its budget however
// many children it has, or whatever a child answers. Past either, what is
// left out is said.
const (
	maxStacks     = 4 << 20
	maxDumpAnswer = 32 << 20
)

// A stackDump is one actor's entry of DumpStacks, in tree order.
type stackDump struct {
	Name, ID string
	PID      int
	Host     string
	Depth    int // 0 for the root of the dump
	Backend  Backend
	State    State
	Stacks   []byte // runtime.Stack of every goroutine of its process
	Shared   bool   // a goroutine actor whose goroutines are in its parent's process's dump
	Cut      bool   // Stacks was cut at maxStacks, or at its share of maxDumpAnswer
	Err      string // why it has no dump: it did not answer in time
}

// DumpStacks writes the goroutine stacks of every actor of the tree from
// the caller down (as [Tree] walks it: the actor whose call ctx is passed,
// or this process, and its descendants) to w, in tree order, each under a
// header line that names the actor, its pid, its depth and its backend:
// Tractor's stack dump, in Go. Each process takes its own dump
// (runtime.Stack of all goroutines, which stops its world for a moment,
// cut at 4 MiB, and the cut is said), and the whole holds at most 32 MiB
// of dumps, shared down the tree (each process dumps within its share and
// splits the rest among its children, so memory stays bounded however
// many there are); a goroutine actor shares its process's, which its
// header says instead of repeating it. The gathering
// is bounded as Tree's (ctx, DefaultDebugTimeout without a deadline); an
// actor that does not answer in time gets a header that says so. It
// returns w's error, or an error for a nil ctx.
func DumpStacks(ctx context.Context, w io.Writer) error {
	if ctx == nil {
		return errors.New("actor: DumpStacks: nil ctx: pass a ctx (or context.Background())")
	}
	if w == nil {
		return errors.New("actor: DumpStacks: nil io.Writer: pass where the stacks go (os.Stderr, say)")
	}
	ctx, cancel := debugBound(ctx)
	defer cancel()
	return writeStacks(w, serverFor(ctx).stacks(ctx, false, maxDumpAnswer))
}

// stacks is the server's entry and its subtree's, in tree order: the dump
// of its process unless shared (its parent is of the same process and
// took it). The bytes of their Stacks are at most budget: its own dump
// takes at most an equal share with its children's subtrees, and the rest
// is split evenly among them.
func (sv *server) stacks(ctx context.Context, shared bool, budget int) []stackDump {
	me := sv.info()
	own := stackDump{Name: me.Name, ID: me.ID, PID: me.PID, Host: me.Host, Backend: me.Backend, State: me.State, Shared: shared}
	ks := sv.kids.list()
	if !shared {
		own.Stacks, own.Cut = allStacks(min(maxStacks, budget/(len(ks)+1)))
	}
	subs := make([][]stackDump, len(ks))
	args := sv.childArgs(ctx)
	share := 0
	if len(ks) > 0 {
		share = (budget - len(own.Stacks)) / len(ks)
	}
	args.Bytes = wireBytes(share)
	var wg sync.WaitGroup
	for i, k := range ks {
		wg.Go(func() { subs[i] = k.stacks(ctx, args, share) })
	}
	wg.Wait()
	out := []stackDump{own}
	for _, sub := range subs {
		for _, d := range sub {
			d.Depth++
			out = append(out, d)
		}
	}
	return out
}

// wireBytes is debugArgs.Bytes for a budget of n bytes: 0 means
// maxDumpAnswer on the wire (a caller that sends none), so no bytes is -1.
func wireBytes(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// dumpBudget is the budget of a grove.stacks call of args a.
func dumpBudget(a debugArgs) int {
	switch {
	case a.Bytes == 0 || a.Bytes > maxDumpAnswer:
		return maxDumpAnswer
	case a.Bytes < 0:
		return 0
	}
	return a.Bytes
}

// stacks asks the kid for its subtree's dumps, of at most budget bytes of
// Stacks, or says why it has none. A child that answers more than its
// budget (a faulty or hostile one) has the excess cut, as its own would
// be.
func (k *kid) stacks(ctx context.Context, args debugArgs, budget int) []stackDump {
	r := k.ref.Load()
	if r == nil {
		return []stackDump{{Name: k.name, State: StateStarting, Err: "actor: it is still starting (its handshake has not completed)"}}
	}
	dumps, err := callDebug[[]stackDump](ctx, r, stacksFunc, args)
	if err == nil && len(dumps) > 0 {
		return cutDumps(dumps, budget)
	}
	if err == nil {
		err = errors.New("an empty answer")
	}
	kn := r.known("")
	return []stackDump{{Name: kn.Name, ID: kn.ID, PID: kn.PID, Host: kn.Host, Backend: kn.Backend, State: kn.State,
		Err: noAnswer(r, err)}}
}

// cutDumps cuts the Stacks of dumps, in order, to budget bytes in all,
// marking each it cut: a cut one is copied, so that the excess is not held.
func cutDumps(dumps []stackDump, budget int) []stackDump {
	left := max(budget, 0)
	for i := range dumps {
		d := &dumps[i]
		if len(d.Stacks) > left {
			d.Stacks, d.Cut = bytes.Clone(d.Stacks[:left]), true
		}
		left -= len(d.Stacks)
	}
	return dumps
}

// allStacks is the dump of every goroutine of this process, cut at limit
// bytes.
func allStacks(limit int) ([]byte, bool) {
	if limit <= 0 {
		return nil, true
	}
	buf := make([]byte, min(64<<10, limit))
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n], false
		}
		if len(buf) >= limit {
			return buf, true
		}
		buf = make([]byte, min(2*len(buf), limit))
	}
}

// writeStacks writes the dumps in order, each under its header.
func writeStacks(w io.Writer, dumps []stackDump) error {
	bw := bufio.NewWriter(w)
	for _, d := range dumps {
		id := printable(d.Name) + "[" + printable(d.ID) + "]"
		if d.PID != 0 {
			id += fmt.Sprintf("@%d", d.PID)
		}
		if d.Host != "" {
			id += " on host " + printable(d.Host)
		}
		fmt.Fprintf(bw, "=== actor %s: depth %d, %s, %s", id, d.Depth, backendName(d.Backend), d.State)
		switch {
		case d.Err != "":
			fmt.Fprintf(bw, ": no dump: %s ===\n\n", printable(d.Err))
			continue
		case d.Shared:
			fmt.Fprintf(bw, ": a goroutine actor, its goroutines are in the dump of process %d above ===\n\n", d.PID)
			continue
		}
		fmt.Fprintf(bw, " ===\n")
		bw.Write(d.Stacks)
		if d.Cut {
			fmt.Fprintf(bw, "\n... the dump was cut (at %d MiB a process, %d MiB the tree, shared among its subtrees) ...\n",
				maxStacks>>20, maxDumpAnswer>>20)
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}

// backendName is a backend's name in the tree view: "?" while unknown.
func backendName(b Backend) string {
	if b == "" {
		return "?"
	}
	return printable(string(b))
}
