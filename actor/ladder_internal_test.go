package actor

import (
	"container/heap"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The sweeper's own rules, on rungs whose signals are recorded rather than
// sent: every due signal of one deadline goes out in one sweep, each rung
// keeps its own grace and kill delay, a rung that leaves mid-ladder gets
// nothing more, and the sweeper is joined when the last rung leaves.

// signals records the signals sent for one rung and the sweep of each.
type signals struct {
	mu   sync.Mutex
	sigs []syscall.Signal
	at   []time.Time
}

func (s *signals) send(sig syscall.Signal) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sigs = append(s.sigs, sig)
	s.at = append(s.at, time.Now())
	return true
}

func (s *signals) got() ([]syscall.Signal, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]syscall.Signal(nil), s.sigs...), append([]time.Time(nil), s.at...)
}

// ladderIdle reports whether no rung is on the ladder and no sweeper runs.
func ladderIdle() bool {
	stops.mu.Lock()
	defer stops.mu.Unlock()
	return stops.members == 0 && stops.quit == nil && len(stops.due) == 0
}

// sweepsOf returns a channel that gets a value after each of l's sweeps,
// up to size pending; sweeps past that are dropped.
func sweepsOf(l *ladder, size int) <-chan struct{} {
	swept := make(chan struct{}, size)
	l.swept = func(chan struct{}) {
		select {
		case swept <- struct{}{}:
		default:
		}
	}
	return swept
}

func TestLadderSweepsDueRungsTogether(t *testing.T) {
	const n = 50
	grace, kill := 30*time.Millisecond, 40*time.Millisecond
	start := time.Now()
	recs := make([]*signals, n)
	rungs := make([]*rung, n)
	for i := range n {
		recs[i] = new(signals)
		rungs[i] = stops.enter(start, grace, kill, recs[i].send, i%10 == 0) // some slow, as remotes are
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, g := range rungs {
		select {
		case <-g.top:
		case <-time.After(time.Until(deadline)):
			t.Fatal("a rung never reached SIGKILL")
		}
	}
	for _, g := range rungs {
		require.True(t, stops.leave(g), "leave reports the signals sent")
	}
	require.True(t, ladderIdle(), "the last leave joins the sweeper")
	var termSweep, killSweep uint64
	for i, rec := range recs {
		sigs, at := rec.got()
		sweeps := rungs[i].sweeps
		if i%10 == 0 { // sent from goroutines of their own: in either order
			require.ElementsMatch(t, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, sigs, "rung %d", i)
		} else {
			require.Equal(t, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, sigs, "rung %d", i)
			require.False(t, at[0].Before(start.Add(grace)), "SIGTERM before the grace period")
			require.False(t, at[1].Before(at[0].Add(kill)), "SIGKILL before the kill delay")
		}
		if i == 0 {
			termSweep, killSweep = sweeps[0], sweeps[1]
		}
		require.Equal(t, termSweep, sweeps[0], "rung %d's SIGTERM went out in a sweep of its own", i)
		require.Equal(t, killSweep, sweeps[1], "rung %d's SIGKILL went out in a sweep of its own", i)
	}
	require.Greater(t, killSweep, termSweep)
}

func TestLadderMixedDeadlines(t *testing.T) {
	cases := []struct {
		grace, kill time.Duration
	}{
		{0, 0},
		{0, 60 * time.Millisecond},
		{40 * time.Millisecond, 0},
		{80 * time.Millisecond, 20 * time.Millisecond},
		{20 * time.Millisecond, 120 * time.Millisecond},
	}
	start := time.Now()
	recs := make([]*signals, len(cases))
	rungs := make([]*rung, len(cases))
	for i, tc := range cases {
		recs[i] = new(signals)
		rungs[i] = stops.enter(start, tc.grace, tc.kill, recs[i].send, false)
	}
	for i, g := range rungs {
		select {
		case <-g.top:
		case <-time.After(10 * time.Second):
			t.Fatalf("rung %d never reached SIGKILL", i)
		}
		require.True(t, stops.leave(g))
	}
	require.True(t, ladderIdle())
	for i, tc := range cases {
		sigs, at := recs[i].got()
		require.Equal(t, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, sigs, "case %d", i)
		require.False(t, at[0].Before(start.Add(tc.grace)), "case %d: SIGTERM early", i)
		require.False(t, at[1].Before(at[0].Add(tc.kill)), "case %d: SIGKILL early", i)
	}
}

// TestLadderLeaveDuringTheSweep: rungs that leave while the sweeper runs
// (their actor exited on the way: some on their SIGTERM, from within the
// sweep, some on their own) get nothing after they left, and the rest of
// the sweep goes on.
func TestLadderLeaveDuringTheSweep(t *testing.T) {
	const n = 40
	start := time.Now()
	recs := make([]*signals, n)
	rungs := make([]*rung, n)
	exited := make([]chan struct{}, n)
	var joined sync.WaitGroup
	for i := range n {
		recs[i], exited[i] = new(signals), make(chan struct{})
		send := recs[i].send
		if i%2 == 0 { // exits on SIGTERM, as a cooperative actor does
			send = func(sig syscall.Signal) bool {
				recs[i].send(sig)
				if sig == syscall.SIGTERM {
					close(exited[i])
				}
				return true
			}
		}
		rungs[i] = stops.enter(start, 20*time.Millisecond, time.Hour, send, false)
		joined.Add(1)
		go func() { // the actor's stop
			defer joined.Done()
			if i%4 == 1 { // exits on its own before its SIGTERM
				stops.leave(rungs[i])
				return
			}
			if i%2 == 0 {
				<-exited[i]
			} else {
				select {
				case <-rungs[i].top: // not within the test: the kill delay is an hour
				case <-time.After(200 * time.Millisecond):
				}
			}
			stops.leave(rungs[i])
		}()
	}
	joined.Wait()
	require.True(t, ladderIdle(), "the sweeper outlived its rungs")
	for i := range n {
		sigs, _ := recs[i].got()
		switch {
		case i%2 == 0, i%4 == 3:
			require.Equal(t, []syscall.Signal{syscall.SIGTERM}, sigs, "rung %d", i)
		default: // left before its deadline; at most its SIGTERM raced with the leave
			require.LessOrEqual(t, len(sigs), 1, "rung %d", i)
		}
	}
}

// TestLadderRestarts: a rung that enters after the sweeper was joined gets
// a new one.
func TestLadderRestarts(t *testing.T) {
	for round := range 3 {
		rec := new(signals)
		g := stops.enter(time.Now(), 0, 0, rec.send, false)
		select {
		case <-g.top:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: no SIGKILL", round)
		}
		require.True(t, stops.leave(g))
		require.True(t, ladderIdle())
		sigs, _ := rec.got()
		require.Len(t, sigs, 2)
	}
}

// A sweeper on its way out (the last rung left, its quit closed, while it
// was still sweeping) and the one a new stop started meanwhile: the hint
// that a rung with an earlier deadline entered reaches the new sweeper.
// With one hint channel for both, the old one took it half the time as it
// left, and the new rung's SIGTERM waited for the other rung's deadline
// (an hour here).
func TestLadderHintReachesTheNewSweeper(t *testing.T) {
	t.Parallel()
	for round := range 12 {
		var l ladder
		var first chan struct{} // the first sweeper's quit
		var mu sync.Mutex
		quitClosed, holdOld := make(chan struct{}), make(chan struct{})
		newHeld, holdNew := make(chan struct{}), make(chan struct{})
		var oldOnce, newOnce sync.Once
		l.swept = func(quit chan struct{}) {
			mu.Lock()
			if first == nil {
				first = quit
			}
			old := quit == first
			mu.Unlock()
			if old {
				oldOnce.Do(func() {
					<-quit // held mid-loop until the last rung has left
					close(quitClosed)
					<-holdOld
				})
				return
			}
			newOnce.Do(func() {
				close(newHeld)
				<-holdNew // held before its first wait, so a hint stays pending
			})
		}
		nop := func(syscall.Signal) bool { return true }
		g0 := l.enter(time.Now(), time.Hour, time.Hour, nop, false)
		left := make(chan struct{})
		go func() { l.leave(g0); close(left) }() // closes the old quit, then joins the old sweeper
		<-quitClosed
		long := l.enter(time.Now(), time.Hour, time.Hour, nop, false) // a new sweeper, timed for an hour
		<-newHeld
		sent := make(chan syscall.Signal, 2)
		// The hint: due soon, before the hour the new sweeper is timed for,
		// but not at the old sweeper's last sweep.
		short := l.enter(time.Now(), 50*time.Millisecond, time.Hour, func(sig syscall.Signal) bool { sent <- sig; return true }, false)
		close(holdOld)
		<-left // the old sweeper has returned, with or without the hint
		close(holdNew)
		select {
		case sig := <-sent:
			require.Equal(t, syscall.SIGTERM, sig)
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the new rung's SIGTERM was not sent: the leaving sweeper took its hint", round)
		}
		l.leave(short)
		l.leave(long)
	}
}

// A rung whose actor had already ended (reaped) by its deadline: its send
// reports so, nothing more is sent, and leave says it was not signalled,
// so that a crash during the stop is reported as the actor's death.
func TestLadderRungOfAnEndedActor(t *testing.T) {
	t.Parallel()
	var l ladder
	swept := sweepsOf(&l, 8)
	var mu sync.Mutex
	var tried []syscall.Signal
	g := l.enter(time.Now(), 0, 0, func(sig syscall.Signal) bool {
		mu.Lock()
		defer mu.Unlock()
		tried = append(tried, sig)
		return false // the actor had been reaped
	}, false)
	select {
	case <-swept: // the first sweep, at entry: the rung was due
	case <-time.After(10 * time.Second):
		t.Fatal("no sweep")
	}
	l.mu.Lock()
	due := len(l.due)
	l.mu.Unlock()
	require.Zero(t, due, "the ended actor's rung is off the due set")
	require.False(t, l.leave(g), "nothing was sent: not signalled")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []syscall.Signal{syscall.SIGTERM}, tried, "no SIGKILL after the end was seen")
}

// The timer fires at the latest deadline within ladderSlack of the
// earliest: at the deadline itself when rungs share it (the SIGKILLs of
// one sweep), not a slack after it as it used to.
func TestLadderWindow(t *testing.T) {
	t.Parallel()
	base := time.Now()
	ms := time.Millisecond
	cases := []struct {
		name string
		at   []time.Duration // deadlines after base, in entry order
		want time.Duration
	}{
		{"one", []time.Duration{0}, 0},
		{"shared", []time.Duration{0, 0, 0, 0}, 0},
		{"within", []time.Duration{3 * ms, 0, 1 * ms, 2 * ms}, 3 * ms},
		{"at the bound", []time.Duration{0, ladderSlack}, ladderSlack},
		{"past the bound", []time.Duration{0, 2 * ms, ladderSlack + ms, 20 * ms}, 2 * ms},
		{"deep", []time.Duration{10 * ms, 9 * ms, 8 * ms, 7 * ms, 6 * ms, 5 * ms, 4 * ms, 3 * ms, 2 * ms, 1 * ms, 0}, ladderSlack},
	}
	for _, tc := range cases {
		var h rungHeap
		for _, d := range tc.at {
			heap.Push(&h, &rung{at: base.Add(d)})
		}
		require.Equal(t, base.Add(tc.want), h.window(), tc.name)
	}
}

// TestLadderLateEntryWidensTheWindow: a rung that enters after the
// sweeper was timed for an earlier rung, due less than ladderSlack after
// it, is sent in the same sweep (the hint re-times the sweeper), and
// neither signal goes out before its deadline.
func TestLadderLateEntryWidensTheWindow(t *testing.T) {
	t.Parallel()
	var l ladder
	swept := sweepsOf(&l, 1)
	start := time.Now()
	grace := 300 * time.Millisecond
	var a, b signals
	ga := l.enter(start, grace, time.Hour, a.send, false)
	select {
	case <-swept: // timed for a's deadline
	case <-time.After(10 * time.Second):
		t.Fatal("no sweep")
	}
	l.mu.Lock()
	require.Equal(t, start.Add(grace), l.fireAt)
	l.mu.Unlock()
	gb := l.enter(start.Add(ladderSlack/2), grace, time.Hour, b.send, false)
	deadline := time.Now().Add(10 * time.Second)
	for _, rec := range []*signals{&a, &b} {
		for sigs, _ := rec.got(); len(sigs) == 0; sigs, _ = rec.got() {
			select {
			case <-swept:
			case <-time.After(time.Until(deadline)):
				t.Fatal("no SIGTERM")
			}
		}
	}
	require.True(t, l.leave(ga))
	require.True(t, l.leave(gb))
	require.Equal(t, ga.sweeps[0], gb.sweeps[0], "the late rung's SIGTERM went out in a sweep of its own")
	_, atA := a.got()
	_, atB := b.got()
	require.False(t, atA[0].Before(start.Add(grace)), "SIGTERM before the grace period")
	require.False(t, atB[0].Before(start.Add(ladderSlack/2+grace)), "SIGTERM before the grace period")
}
