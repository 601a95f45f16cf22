package auth

import (
	"sync"
	"time"
)

// memo remembers what the store last said of things by key (a client's
// record, an entity's incarnation), so that a request about a known one
// touches no database. An answer older than clientRecheck is asked of the
// store again in the background; while the store cannot answer, one the
// store confirmed less than clientOutageGrace ago is still believed. Ages
// are judged by one clock, its owner's (Tokens: TokenConfig.Now).
//
// A memo is guarded by its owner's mutex: every method but recall is called
// with it held; recall and the background look-ups take it themselves.
type memo[V any] struct {
	mu  *sync.Mutex
	now func() time.Time
	// ask asks the store about key and remembers the answer; called
	// without mu held.
	ask        func(key string) (V, bool)
	entries    map[string]*memoEntry[V]
	rechecking map[string]bool // keys being asked about now -> ask once more when done
}

// clientOutageGrace is how long after the store last confirmed it a
// remembered value is still believed while the store does not answer.
const clientOutageGrace = time.Hour

type memoEntry[V any] struct {
	val       V
	checked   time.Time // when the store was last asked
	confirmed time.Time // when the store last said it exists
}

func newMemo[V any](mu *sync.Mutex, now func() time.Time, ask func(string) (V, bool)) *memo[V] {
	return &memo[V]{mu: mu, now: now, ask: ask, entries: map[string]*memoEntry[V]{}, rechecking: map[string]bool{}}
}

// recall returns what is remembered of key, and asks the store again in the
// background when that is older than clientRecheck. Only a key not
// remembered is asked about before answering.
func (m *memo[V]) recall(key string) (V, bool) {
	m.mu.Lock()
	if e, ok := m.entries[key]; ok {
		v := e.val
		if m.now().Sub(e.checked) >= clientRecheck {
			m.recheck(key)
		}
		m.mu.Unlock()
		return v, true
	}
	m.mu.Unlock()
	return m.ask(key)
}

// recheck asks the store about key in the background; asked while that
// runs, it asks once more after (again), since the running one's answer may
// predate what prompted the ask.
func (m *memo[V]) recheck(key string) {
	if _, running := m.rechecking[key]; running {
		m.rechecking[key] = true
		return
	}
	m.rechecking[key] = false
	go func() {
		for {
			m.ask(key)
			m.mu.Lock()
			if !m.rechecking[key] {
				delete(m.rechecking, key)
				m.mu.Unlock()
				return
			}
			m.rechecking[key] = false
			m.mu.Unlock()
		}
	}()
}

// peek returns what is remembered of key, whatever its age.
func (m *memo[V]) peek(key string) (V, bool) {
	if e, ok := m.entries[key]; ok {
		return e.val, true
	}
	var zero V
	return zero, false
}

// put remembers v as what the store says of key now.
func (m *memo[V]) put(key string, v V) {
	now := m.now()
	m.entries[key] = &memoEntry[V]{val: v, checked: now, confirmed: now}
}

// drop forgets key.
func (m *memo[V]) drop(key string) { delete(m.entries, key) }

// unanswered is what is believed of key when the store could not be asked:
// what it confirmed less than clientOutageGrace ago (counted as checked now),
// else nothing, and key is forgotten.
func (m *memo[V]) unanswered(key string) (V, bool) {
	now := m.now()
	if e, ok := m.entries[key]; ok && now.Sub(e.confirmed) < clientOutageGrace {
		e.checked = now
		return e.val, true
	}
	delete(m.entries, key)
	var zero V
	return zero, false
}

// each calls fn with every key remembered and its value; fn may drop keys.
func (m *memo[V]) each(fn func(key string, v V)) {
	for k, e := range m.entries {
		fn(k, e.val)
	}
}
