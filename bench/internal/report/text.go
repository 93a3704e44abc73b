package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// WriteText writes run as plain-text tables: a header naming the machine,
// the figures with their floors and peers, what each floor is, and one
// table per curve. It blocks on w only.
func WriteText(w io.Writer, run *Run) error {
	var b strings.Builder
	m := run.Machine
	fmt.Fprintf(&b, "grove-bench %s  %s/%s  %s, %d CPUs (grove counts %d)  %s\n",
		run.Time.Format("2006-01-02 15:04"), m.OS, m.Arch, m.CPU, m.NumCPU, m.CPUCount, m.GoVersion)
	mode := "full"
	if run.Quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "%s run: medians of %d interleaved rounds; ± is half the interquartile range, relative to the median.\n", mode, run.Rounds)
	b.WriteString("ratio: grove's cost as a multiple of its floor's. A peer's \"× grove\": its cost as a multiple of grove's (above 1: grove is ahead).\n\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tfigure\tgrove\tfloor\tratio\tover floor\tpeers\t\t")
	for _, f := range run.Figures {
		peers := f.Peers
		first := []string{"", "", ""}
		if len(peers) > 0 {
			first = peerCells(f.Unit, peers[0])
			peers = peers[1:]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.Title,
			cell(f.Unit, f.Grove), cell(f.Unit, f.Floor), ratio(f.Ratio, "×"), overhead(f), first[0], first[1], first[2])
		for _, p := range peers {
			c := peerCells(f.Unit, p)
			fmt.Fprintf(tw, "\t\t\t\t\t\t%s\t%s\t%s\n", c[0], c[1], c[2])
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}

	b.WriteString("\nfloors and methods:\n")
	for _, f := range run.Figures {
		fmt.Fprintf(&b, "  %-3s floor: %s.", f.ID, f.Floor.Name)
		if f.Note != "" {
			fmt.Fprintf(&b, " %s", f.Note)
		}
		b.WriteString("\n")
	}

	for _, c := range run.Curves {
		fmt.Fprintf(&b, "\n%s\n", c.Title)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\t", c.XLabel)
		for _, s := range c.Series {
			fmt.Fprintf(tw, "%s\t", s.Name)
		}
		fmt.Fprintln(tw)
		for i, x := range c.X {
			fmt.Fprintf(tw, "%s\t", formatX(c.XUnit, x))
			for _, s := range c.Series {
				r := Result{Summary: s.Points[i]}
				fmt.Fprintf(tw, "%s\t", cell(c.Unit, r))
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if c.Note != "" {
			fmt.Fprintf(&b, "  %s\n", c.Note)
		}
	}
	// tabwriter pads the last cells of short rows; drop the padding.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// cell prints a result as "median ±spread", or "absent" with its reason.
func cell(u Unit, r Result) string {
	switch {
	case r.Absent != "":
		return "absent: " + r.Absent
	case r.N == 0:
		return "-"
	case r.N == 1:
		return u.Format(r.Median)
	}
	return fmt.Sprintf("%s ±%.0f%%", u.Format(r.Median), 100*r.Spread())
}

// peerCells prints a peer as its name, its result and its cost beside grove's.
func peerCells(u Unit, p Peer) []string {
	if p.Absent != "" {
		return []string{p.Name, "absent: " + p.Absent, ""}
	}
	return []string{p.Name, cell(u, p.Result), ratio(p.VsGrove, "× grove")}
}

// ratio prints r with three significant digits and suffix, or "-" if r is
// not a number.
func ratio(r Ratio, suffix string) string {
	v := float64(r)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v >= 1000:
		return fmt.Sprintf("%.0f%s", v, suffix)
	case v < 0.01:
		return fmt.Sprintf("%.2g%s", v, suffix)
	}
	return fmt.Sprintf("%.3g%s", v, suffix)
}

// overhead prints what grove adds to its floor: the difference of the
// medians for costs, and the difference of the time per item for
// throughputs. It is "-" without both medians.
func overhead(f Figure) string {
	if !f.Grove.Measured() || !f.Floor.Measured() {
		return "-"
	}
	g, fl := f.Grove.Median, f.Floor.Median
	if f.Unit.HigherIsBetter() {
		return signed(Nanoseconds, 1e9/g-1e9/fl) + "/item"
	}
	return signed(f.Unit, g-fl)
}

// signed prints v in u with an explicit sign.
func signed(u Unit, v float64) string {
	if v < 0 {
		return "-" + u.Format(-v)
	}
	return "+" + u.Format(v)
}

// formatX prints a curve's X value in its unit, or as a plain number.
func formatX(u Unit, x float64) string {
	if u == "" {
		return fmt.Sprintf("%g", x)
	}
	return u.Format(x)
}
