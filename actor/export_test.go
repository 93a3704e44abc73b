package actor

// RegistrarHolds reports whether the root's registrar holds anything under
// name: a registration, or the state of a waiter or watcher.
func RegistrarHolds(name string) bool {
	r := rootRegistrar()
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.names[name]
	return ok
}

// RegistrarWaiters is how many Waits and Watches of name the root's
// registrar is serving.
func RegistrarWaiters(name string) int {
	r := rootRegistrar()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.names[name]; s != nil {
		return s.waiters
	}
	return 0
}
