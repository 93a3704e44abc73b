package natslink

import "time"

// SetPublishHook makes every message l publishes go through hook, which
// may drop, duplicate, delay or reorder it (publish sends one).
func SetPublishHook(l *Link, hook func(m []byte, publish func([]byte) error) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	inner := l.publish
	l.publish = func(m []byte) error { return hook(m, inner) }
}

// Inflight returns the bytes l has sent and not had acknowledged.
func Inflight(l *Link) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight
}

// Buffered returns the bytes l has received and not had read.
func Buffered(l *Link) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buffered
}

// NewDetached returns a link with no NATS connection and no goroutines,
// and the function that feeds it a message from its peer (running any
// side-channel callback); what it publishes is dropped.
func NewDetached(cfg Config) (*Link, func([]byte), error) {
	l, err := newLink(cfg)
	if err != nil {
		return nil, nil, err
	}
	return l, func(m []byte) {
		if side := l.receive(m); side != nil {
			side()
		}
	}, nil
}

// Tick runs l's heartbeat check at now, late after it was due, and
// returns the wait until the next one.
func Tick(l *Link, now time.Time, late time.Duration) time.Duration { return l.tick(now, late) }
