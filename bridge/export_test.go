package bridge

// Queued returns how many callbacks and Calls wait in l's queue, for tests
// that must know a Call was queued before they act.
func Queued(l *Loop) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}
