package actor

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// hostileTreeEnv makes a child of this test binary answer the tree view's
// reserved calls as a faulty or hostile child might: a few bytes that
// decode to hostileKids empty entries each.
const hostileTreeEnv = "GROVE_TEST_HOSTILE_TREE"

// hostileKids is what the hostile child claims: past maxDebugItems, in a
// frame of half a megabyte (which decoded whole, as TreeInfos, is some
// 90 MB).
const hostileKids = 1 << 19

// emptyMaps is a msgpack array of n empty maps.
func emptyMaps(n int) []byte {
	b := []byte{0xdd, 0, 0, 0, 0} // array 32
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return append(b, bytes.Repeat([]byte{0x80}, n)...)
}

func init() {
	if os.Getenv(hostileTreeEnv) == "" {
		return
	}
	// The reserved functions are registered by tree.go's init, which runs
	// before this file's: this replaces them, in the hostile child only.
	tree := append([]byte{0x81, 0xa8}, "Children"...) // {"Children": [{}, {}, ...]}
	tree = append(tree, emptyMaps(hostileKids)...)
	stacks := emptyMaps(hostileKids)
	registry.Lock()
	defer registry.Unlock()
	registry.fns[treeFunc] = func(context.Context, *transport.Stream) (any, error) { return msgpack.RawMessage(tree), nil }
	registry.fns[stacksFunc] = func(context.Context, *transport.Stream) (any, error) { return msgpack.RawMessage(stacks), nil }
}

// A child whose answer claims half a million grandchildren (or stack
// dumps) appears with an error that says why, and its claim is not
// decoded: the parent's memory is not the child's to fill.
func TestTreeRefusesAHugeAnswerFromAChild(t *testing.T) {
	proctest.NeedsProcesses(t, "a child process that answers the tree view as no grove actor does")
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		defer n.Cancel(nil)
		r, err := Spawn(ctx, n, "hostile", WithEnv(hostileTreeEnv+"=1"))
		if err != nil {
			return err
		}
		tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
		defer tcancel()
		tree, err := Tree(tctx)
		require.NoError(t, err)
		var got *TreeInfo
		for i := range tree.Children {
			if tree.Children[i].ID == r.ID() {
				got = &tree.Children[i]
			}
		}
		require.NotNil(t, got, "the hostile child is in the tree")
		require.Empty(t, got.Children, "its claim is not taken")
		require.Contains(t, got.Err, "more than")
		require.Equal(t, r.PID(), got.PID, "what its parent knows of it is shown")

		var buf bytes.Buffer
		require.NoError(t, DumpStacks(tctx, &buf))
		require.Contains(t, buf.String(), "no dump")
		require.Contains(t, buf.String(), "more than")
		require.Less(t, buf.Len(), 1<<20, "one header for the hostile child, not half a million")
		return nil
	})
	require.NoError(t, err)
}

// countItems counts every array's elements and every map's entries, at
// any depth, and refuses past its limit.
func TestCountItems(t *testing.T) {
	t.Parallel()
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name  string
		raw   []byte
		limit int
		ok    bool
	}{
		{"scalar", enc(7), 0, true},
		{"nil", enc(nil), 0, true},
		{"array at the limit", enc([]int{1, 2, 3}), 3, true},
		{"array past the limit", enc([]int{1, 2, 3}), 2, false},
		{"map entries count once", enc(map[string]int{"a": 1, "b": 2}), 2, true},
		{"nested", enc([]any{[]int{1, 2}, map[string]any{"k": []int{3}}}), 6, true},
		{"nested past", enc([]any{[]int{1, 2}, map[string]any{"k": []int{3}}}), 5, false},
		{"empty maps", emptyMaps(1000), 999, false},
		{"a claimed length with no elements", emptyMaps(1000)[:5], 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := countItems(tc.raw, tc.limit)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

// What a child says of itself (its name, its functions' names, its
// errors, its backend) is quoted where it is not printable: a newline
// cannot add a row to `grove ps`, nor an escape sequence reach the
// terminal.
func TestTreeViewQuotesWhatIsNotPrintable(t *testing.T) {
	t.Parallel()
	const evil = "x\n\x1b[2Jfake\trow"
	tree := TreeInfo{Name: "root", ID: "1", PID: 1, State: StateServing, Children: []TreeInfo{
		{Name: evil, ID: evil, PID: 2, Backend: Backend(evil), State: StateServing, Calls: map[string]int{evil: 1}},
		{Name: "quiet", ID: "3", PID: 3, Err: evil},
	}}
	var buf bytes.Buffer
	_, err := tree.WriteTo(&buf)
	require.NoError(t, err)
	require.NotContains(t, buf.String(), "\x1b")
	require.NotContains(t, buf.String(), "\t")
	require.Len(t, strings.Split(strings.TrimRight(buf.String(), "\n"), "\n"), 5, "a header, three rows and a note:\n%s", buf.String())
	require.Contains(t, buf.String(), strconv.Quote(evil))

	buf.Reset()
	require.NoError(t, writeStacks(&buf, []stackDump{
		{Name: evil, ID: evil, PID: 2, Host: evil, Backend: Backend(evil), Stacks: []byte("goroutine 1 [running]:\n")},
		{Name: "quiet", ID: "3", Err: evil},
	}))
	require.NotContains(t, buf.String(), "\x1b")
	headers := 0
	for line := range strings.Lines(buf.String()) {
		if strings.HasPrefix(line, "===") {
			headers++
			require.True(t, strings.HasSuffix(line, "===\n"), "a header on one line: %q", line)
		}
	}
	require.Equal(t, 2, headers)
}
