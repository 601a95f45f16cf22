// Package memstore is a policy.Store held in memory, for the domain's unit
// tests: it keeps what the SQL stores keep, answers with their errors, and
// passes the same conformance suite (policy/storetest). Nothing outlives the
// process.
//
// Transactions are copy-on-write: a write works on its own copy of the
// tables it changes and commits by swapping the committed state, so a
// rollback is dropping the copy and a read sees one state from start to end
// (every View is a Snapshot). Writes take turns, as on SQLite.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// Store is the in-memory policy.Store. The zero value is not ready: use New.
type Store struct {
	write sync.Mutex // held by a write from its start to its commit
	state atomic.Pointer[state]
}

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.state.Store(&state{
		entities:    map[string]entityRow{},
		roles:       map[string]roleRow{},
		users:       map[userKey]userRow{},
		assignments: map[assignmentKey]rolegate.Assignment{},
		rules:       map[string]map[ruleKey]int64{},
		settings:    map[string]string{},
		clients:     map[string]auth.Client{},
		audit:       map[string]policy.AuditEvent{},
		changes:     map[string]map[int64]changes.Entry{},
		conditions:  map[string]map[string]string{},
		history:     map[string]*entityHistory{},
		constraints: map[string]constraintRow{},
	})
	return s
}

var (
	_ policy.Store       = (*Store)(nil)
	_ changes.LogReader  = (*Store)(nil)
	_ changes.ItemReader = (*Store)(nil)
)

// errReadOnly is a write inside View or Snapshot: the SQL stores' read
// transactions do not promise to keep it, so none may try.
var errReadOnly = errors.New("memstore: a write in a read-only transaction")

// Update runs fn on a copy of the committed state and commits the copy when
// fn returns nil. Errors: ctx's when it ends first (ErrUnavailable for its
// deadline, as the SQL stores), or fn's.
func (s *Store) Update(ctx context.Context, fn func(tx policy.Tx) error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s.write.Lock()
	defer s.write.Unlock()
	t := &tx{st: *s.state.Load(), writable: true}
	defer func() { t.done = true }()
	if err := fn(t); err != nil {
		return err
	}
	if err := ctxErr(ctx); err != nil {
		return err // too late to commit: the SQL stores roll back
	}
	s.state.Store(&t.st)
	return nil
}

// View runs fn on the committed state.
func (s *Store) View(ctx context.Context, fn func(tx policy.Tx) error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	t := &tx{st: *s.state.Load()}
	defer func() { t.done = true }()
	return fn(t)
}

// Snapshot is View: every read sees one state already.
func (s *Store) Snapshot(ctx context.Context, fn func(tx policy.Tx) error) error {
	return s.View(ctx, fn)
}

// Ping answers nil: memory is always there.
func (s *Store) Ping(ctx context.Context) error { return nil }

// ctxErr is the error of a transaction whose context has ended, as the SQL
// stores give it: a deadline is ErrUnavailable, a cancel the context's error.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", rolegate.ErrUnavailable, err)
	}
	return err
}

// LoadPolicy reads the entity's revision, rules and active role names, as
// the SQL stores read them: p rules then g rules, each in the order stored;
// then its condition sources and the attributes of its users that have any.
func (s *Store) LoadPolicy(ctx context.Context, entityID string) (engine.Policy, error) {
	var out engine.Policy
	err := s.View(ctx, func(ptx policy.Tx) error {
		var err error
		out, err = loadPolicy(&ptx.(*tx).st, entityID)
		return err
	})
	return out, err
}

// loadPolicy is LoadPolicy inside a transaction.
func loadPolicy(st *state, entityID string) (engine.Policy, error) {
	var out engine.Policy
	e, ok := st.entities[entityID]
	if !ok {
		return out, notFound("entity %q", entityID)
	}
	out.Revision, out.Created = e.Revision, e.CreatedAt
	out.Rules = []rolegate.Rule{}
	for _, k := range st.entityRules(entityID) {
		switch k.ptype {
		case "p":
			out.Rules = append(out.Rules, k.rule())
		case "g":
			// The SQL stores read a g rule's first four values only.
			v := []string{k.v[0], k.v[1], entityID}
			if k.v[3] != "" {
				v = append(v, k.v[3])
			}
			out.Rules = append(out.Rules, rolegate.Rule{PType: "g", Values: v})
		}
	}
	out.RoleNames = map[string]string{}
	for _, r := range st.roles {
		if r.EntityID == entityID && r.Status == rolegate.StatusActive {
			out.RoleNames[r.ID] = r.Name
		}
	}
	nameHashed(st, entityID, &out)
	if conds := st.conditions[entityID]; len(conds) > 0 {
		out.Conditions = maps.Clone(conds)
	}
	for k, u := range st.users {
		if k.entityID != entityID || u.attrs == "{}" {
			continue
		}
		attrs, err := policy.DecodeAttributes(u.attrs)
		if err != nil {
			return out, err
		}
		if out.Attributes == nil {
			out.Attributes = map[string]map[string]any{}
		}
		out.Attributes[k.id] = attrs
	}
	return out, nil
}

// nameHashed fills pol.Hashed from the users and assignments whose subjects
// are hashed, as the SQL stores do: only when the rules hold such subjects.
func nameHashed(st *state, entityID string, pol *engine.Policy) {
	if !slices.ContainsFunc(pol.Rules, func(r rolegate.Rule) bool { return len(r.Values) > 0 && engine.Hashed(r.Values[0]) }) {
		return
	}
	pol.Hashed = map[string]engine.HashedName{}
	name := func(userID, scope string) {
		if sub, hashed := engine.HashedSubject(userID, scope); hashed {
			pol.Hashed[sub] = engine.HashedName{UserID: userID, Scope: scope}
		}
	}
	for k := range st.users {
		if k.entityID == entityID {
			name(k.id, "")
		}
	}
	for k := range st.assignments {
		if k.entityID == entityID {
			name(k.userID, k.scope)
		}
	}
}

// PolicyChanges reads the change log of one entity after a revision, with
// the entity's revision (changes.LogReader). The entries come without their
// items, as the SQL stores read them for the catch-up.
func (s *Store) PolicyChanges(ctx context.Context, entityID string, after int64, max int) (int64, time.Time, []changes.Entry, error) {
	var rev int64
	var created time.Time
	var out []changes.Entry
	err := s.View(ctx, func(ptx policy.Tx) error {
		st := &ptx.(*tx).st
		e, ok := st.entities[entityID]
		if !ok {
			return notFound("entity %q", entityID)
		}
		rev, created = e.Revision, e.CreatedAt
		if rev <= after || rev-after > int64(max) {
			return nil
		}
		out = []changes.Entry{}
		for _, c := range st.changesAfter(entityID, after, rev) {
			c.Items = nil
			out = append(out, copyChange(c))
		}
		return nil
	})
	return rev, created, out, err
}

// ReadChangeItems reads the entity's revision and incarnation, then the
// items of the log entries after `after` (changes.ItemReader).
func (s *Store) ReadChangeItems(ctx context.Context, entityID string, after int64, window, maxRows int,
	each func(rev int64, items []byte) bool) (int64, string, error) {
	var rev int64
	var inc string
	err := s.View(ctx, func(ptx policy.Tx) error {
		st := &ptx.(*tx).st
		e, ok := st.entities[entityID]
		if !ok {
			return notFound("entity %q", entityID)
		}
		rev, inc = e.Revision, e.Incarnation
		if rev <= after || rev-after > int64(window) || maxRows <= 0 {
			return nil
		}
		for i, c := range st.changesAfter(entityID, after, rev) {
			if i == maxRows || !each(c.Revision, copyChange(c).Items) {
				return nil
			}
		}
		return nil
	})
	return rev, inc, err
}

func notFound(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, rolegate.ErrNotFound)...)
}

func duplicate(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, rolegate.ErrDuplicate)...)
}
