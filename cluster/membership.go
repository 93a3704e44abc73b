package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/grove-rt/grove/cluster/internal/subject"
	"github.com/grove-rt/grove/cluster/natslink"
)

// Membership (scaleout design §5.7): every agent announces itself
// (ev.hostup.H) when it starts and again on a survey (ev.survey: a
// broadcast, not a request, so that the answers need no reply
// permissions); a client surveys the hosts once when it joins and keeps a view from the events
// that follow, among them ev.hostdown.H, which an agent publishes when it
// stops and a membership watcher (an agent holding the system user) when
// another agent's connection closed and a ping went unanswered. On
// ev.hostdown.H every remote actor of H this process holds is lost at
// once, and spawns on H fail with ErrHostUnavailable without a round trip
// until H is heard from again.
//
// Any agent may publish ev.hostdown.H (the servers' permissions cannot tell
// a watcher, whose role is its system-user connection, from another
// agent), and announcements are only checked against the subject: so a
// report is taken only if it names H's incarnation, and only once H's
// agent, pinged on receipt, does not answer as that incarnation (no
// responders comes back at once for a closed connection; a hung agent
// costs confirmPing). The servers allow an agent to announce only its own
// host.

// surveyQuiet and surveyMax bound the wait for the survey's answers: the
// view is settled once no answer came for surveyQuiet after one did, or
// surveyMax after the survey was sent.
const (
	surveyQuiet = 20 * time.Millisecond
	surveyMax   = 200 * time.Millisecond
)

// members is a Cluster's view of the hosts and the links it holds.
type members struct {
	mu      sync.Mutex
	hosts   map[string]*hostState
	links   map[*natslink.Link]struct{}
	remotes map[string]map[*remote]struct{} // by host
	subs    []*nats.Subscription
	rejoin  func() // an agent's: announce itself again after a reconnect
	settled chan struct{}
	settle  *time.Timer
	once    sync.Once
	nc      *nats.Conn // pings a host reported down
	name    string
	wg      sync.WaitGroup // the remotes' goroutines
}

// hostState is what the view knows of a host.
type hostState struct {
	rec  hostRecord
	down bool
	why  string
}

// start subscribes to the membership events of c and sends the survey.
// Its callbacks run on the NATS client's goroutine, which Close ends.
func (m *members) start(c *Cluster) error {
	m.mu.Lock()
	m.hosts = map[string]*hostState{}
	m.links = map[*natslink.Link]struct{}{}
	m.remotes = map[string]map[*remote]struct{}{}
	m.settled = make(chan struct{})
	m.settle = time.AfterFunc(surveyMax, m.markSettled)
	name := c.cfg.Name
	m.nc, m.name = c.nc, name
	m.mu.Unlock()
	ev, err := c.nc.Subscribe("grove."+name+".ev.>", func(msg *nats.Msg) { m.event(name, msg) })
	if err != nil {
		return fmt.Errorf("cluster: subscribe to the membership events: %w", err)
	}
	m.mu.Lock()
	m.subs = []*nats.Subscription{ev}
	m.mu.Unlock()
	// An agent may not survey (its permissions): it then learns hosts
	// from their announcements only.
	_ = c.nc.Publish(evSurvey(name), nil)
	return nil
}

func (m *members) markSettled() { m.once.Do(func() { close(m.settled) }) }

// event handles one membership event.
func (m *members) event(name string, msg *nats.Msg) {
	rest, ok := strings.CutPrefix(msg.Subject, "grove."+name+".ev.")
	if !ok {
		return
	}
	kind, host, _ := strings.Cut(rest, ".")
	switch kind {
	case "hostup":
		var rec hostRecord
		if decode("hostup event", msg.Data, &rec) == nil && rec.Host == host {
			m.up(rec)
			m.mu.Lock()
			m.settle.Reset(surveyQuiet)
			m.mu.Unlock()
		}
	case "hostdown":
		var d hostDown
		if decode("hostdown event", msg.Data, &d) == nil && d.Host == host && d.Incarnation != "" && m.gone(d) {
			m.down(d)
		}
	}
}

func (m *members) up(rec hostRecord) {
	if rec.Host == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hosts[rec.Host] = &hostState{rec: rec}
}

// confirmPing bounds a receiver's own ping of a host reported down.
const confirmPing = 200 * time.Millisecond

// gone reports whether the agent of d's host and incarnation is gone: it
// does not answer a ping within confirmPing, or another incarnation does.
// It runs on the events' subscription, so events stay in order.
func (m *members) gone(d hostDown) bool {
	msg, err := m.nc.Request(subject.Host(m.name, d.Host, "ping"), nil, confirmPing)
	if err != nil {
		return true
	}
	var rec hostRecord
	return decode("ping reply", msg.Data, &rec) != nil || rec.Incarnation != d.Incarnation
}

// down marks a host down and loses every remote actor of it of the
// incarnation reported.
func (m *members) down(d hostDown) {
	m.mu.Lock()
	hs := m.hosts[d.Host]
	if hs == nil {
		hs = &hostState{rec: hostRecord{Host: d.Host, Incarnation: d.Incarnation}}
		m.hosts[d.Host] = hs
	}
	if d.Incarnation == hs.rec.Incarnation {
		hs.down, hs.why = true, d.Reason
	}
	var lost []*remote
	for r := range m.remotes[d.Host] {
		if d.Incarnation == r.incarnation {
			lost = append(lost, r)
		}
	}
	m.mu.Unlock()
	for _, r := range lost {
		r.lose(d.Reason)
	}
}

// knownDown reports why host h is known to be down, or "".
func (m *members) knownDown(h string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if hs := m.hosts[h]; hs != nil && hs.down {
		return hs.why
	}
	return ""
}

// incarnation returns the incarnation of host h last heard of, or "".
func (m *members) incarnation(h string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if hs := m.hosts[h]; hs != nil {
		return hs.rec.Incarnation
	}
	return ""
}

// view returns the records of the hosts up, once the survey settled (or
// ctx ended), with the number of this process's actors on each.
func (m *members) view(ctx context.Context) ([]hostRecord, map[string]int) {
	select {
	case <-m.settled:
	case <-ctx.Done():
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var recs []hostRecord
	for _, hs := range m.hosts {
		if !hs.down {
			recs = append(recs, hs.rec)
		}
	}
	mine := map[string]int{}
	for h, rs := range m.remotes {
		mine[h] = len(rs)
	}
	return recs, mine
}

func (m *members) addLink(l *natslink.Link) {
	m.mu.Lock()
	m.links[l] = struct{}{}
	m.mu.Unlock()
}

func (m *members) removeLink(l *natslink.Link) {
	m.mu.Lock()
	delete(m.links, l)
	m.mu.Unlock()
}

func (m *members) addRemote(r *remote) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links[r.link] = struct{}{}
	if m.remotes[r.host] == nil {
		m.remotes[r.host] = map[*remote]struct{}{}
	}
	m.remotes[r.host][r] = struct{}{}
}

func (m *members) removeRemote(r *remote) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.links, r.link)
	delete(m.remotes[r.host], r)
}

// resume resends what a reconnect may have lost on every link (the NATS
// client's reconnect handler).
func (m *members) resume() {
	m.mu.Lock()
	links := make([]*natslink.Link, 0, len(m.links))
	for l := range m.links {
		links = append(links, l)
	}
	rejoin := m.rejoin
	m.mu.Unlock()
	for _, l := range links {
		l.Resume()
	}
	if rejoin != nil {
		rejoin()
	}
}

// onReconnect sets what an agent does after each reconnect: announce
// itself, so that a host reported down while it was cut off is up again
// in every view.
func (m *members) onReconnect(f func()) {
	m.mu.Lock()
	m.rejoin = f
	m.mu.Unlock()
}

// stop ends the subscriptions and waits for the remotes' goroutines, which
// end once their links have (the connection is closed by then).
func (m *members) stop() {
	m.mu.Lock()
	subs := m.subs
	m.subs = nil
	if m.settle != nil {
		m.settle.Stop()
	}
	m.mu.Unlock()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	m.wg.Wait()
}
