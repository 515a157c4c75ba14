package tasks

import "sync"

// Memo is scratch space that the tasks of one run on one host share, for
// what one task plans and a later one must take into account. In check
// mode nothing is applied, so without it a later task would plan against
// a host that ignores the earlier task's plan (two users given the same
// subordinate range, say). Keys are namespaced by the module that owns
// them ("subid:/etc/subuid").
type Memo struct {
	mu sync.Mutex
	m  map[string]any
}

// Load returns the value stored under key.
func (m *Memo) Load(key string) (any, bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[key]
	return v, ok
}

// Store sets the value under key. A nil Memo stores nothing.
func (m *Memo) Store(key string, v any) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]any{}
	}
	m.m[key] = v
}
