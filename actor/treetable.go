package actor

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// WriteTo writes the tree as a table, one actor a line, children indented
// under their parent as `ps -ef --forest` does: the columns NAME, ID, PID,
// BACKEND, STATE, CALLS (the calls in flight, by function), UPTIME and RSS;
// an actor that did not answer has "-" where it could not tell, and its
// Err on a line below. It returns the bytes written and w's error.
func (t TreeInfo) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	tw := tabwriter.NewWriter(cw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tPID\tBACKEND\tSTATE\tCALLS\tUPTIME\tRSS")
	var notes []string
	t.rows(tw, 0, &notes)
	err := tw.Flush()
	for _, n := range notes {
		if err == nil {
			_, err = io.WriteString(cw, n+"\n")
		}
	}
	return cw.n, err
}

// rows writes the actor's row and its children's, depth levels in.
func (t TreeInfo) rows(w io.Writer, depth int, notes *[]string) {
	name := printable(t.Name)
	if depth > 0 {
		name = strings.Repeat("  ", depth-1) + `\_ ` + name
	}
	id, pid, calls, uptime, rss := dash(printable(t.ID)), "-", "-", "-", "-"
	if t.PID != 0 {
		pid = strconv.Itoa(t.PID)
	}
	if t.Err == "" {
		calls, uptime, rss = callsText(t.Calls), uptimeText(t.Uptime), rssText(t.RSS)
	} else {
		*notes = append(*notes, fmt.Sprintf("%s[%s]: %s", printable(t.Name), printable(t.ID), printable(t.Err)))
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, id, pid, backendName(t.Backend), t.State, calls, uptime, rss)
	for _, c := range t.Children {
		c.rows(w, depth+1, notes)
	}
}

// printable is s, quoted if it holds a rune that is not printable (a
// newline, a tab, a terminal's escape): the names and errors of a tree
// come from its actors, and must not break its table, or a terminal.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// callsText is "fn:n fn2:m", by name, or "0".
func callsText(calls map[string]int) string {
	if len(calls) == 0 {
		return "0"
	}
	var b strings.Builder
	for i, fn := range slices.Sorted(maps.Keys(calls)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", printable(fn), calls[fn])
	}
	return b.String()
}

func uptimeText(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// rssText is the size in MiB, or "-" where it is unknown.
func rssText(n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
