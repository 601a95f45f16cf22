package memstore

import (
	"bytes"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/policy"
)

// state is the store's tables. A committed state is never changed: a write
// copies each table before its first change to it (tx.own).
type state struct {
	entities    map[string]entityRow
	roles       map[string]roleRow // by id, unique over all entities
	users       map[userKey]userRow
	assignments map[assignmentKey]rolegate.Assignment
	// rules holds each entity's rules (p: the second value, g: the third)
	// with the sequence number that orders them as stored.
	rules    map[string]map[ruleKey]int64
	ruleSeq  int64
	settings map[string]string
	clients  map[string]auth.Client
	audit    map[string]policy.AuditEvent
	changes  map[string]map[int64]changes.Entry // entity -> revision -> entry
	// conditions are the condition sources of each entity, by hash; an
	// entity's map is never changed once committed (copied whole to write).
	conditions map[string]map[string]string
	// history is each entity's history (history.go); an entity's is
	// copied whole by the write that changes it (ownHistory).
	history map[string]*entityHistory
	// constraints are the separation-of-duties constraints, by id.
	constraints map[string]constraintRow
}

// entityRow is an entity as stored.
type entityRow = rolegate.Entity

// roleRow and userRow hold rights encoded, as the SQL stores do: what reads
// back is what the encoding keeps, and no slice is shared with a caller.
type roleRow struct {
	rolegate.Role
	rights string
}

type userRow struct {
	rolegate.User
	rights string
	attrs  string // EncodeAttributes; User.Attributes is nil
}

type userKey struct{ entityID, id string }

type assignmentKey struct{ entityID, userID, roleID, scope string }

func keyOf(a *rolegate.Assignment) assignmentKey {
	return assignmentKey{a.EntityID, a.UserID, a.RoleID, a.Scope}
}

// ruleKey is a rule as casbin_rule holds it: six values, "" where none.
type ruleKey struct {
	ptype string
	v     [6]string
}

func (k ruleKey) rule() rolegate.Rule {
	n := len(k.v)
	for n > 0 && k.v[n-1] == "" {
		n--
	}
	return rolegate.Rule{PType: k.ptype, Values: slices.Clone(k.v[:n])}
}

// entity is the entity a rule belongs to: p rules name it second, g rules third.
func (k ruleKey) entity() string {
	if k.ptype == "g" {
		return k.v[2]
	}
	return k.v[1]
}

// entityRules returns the entity's p rules then its g rules, each in the
// order stored.
func (st *state) entityRules(entityID string) []ruleKey {
	rs := st.rules[entityID]
	keys := make([]ruleKey, 0, len(rs))
	for k := range rs {
		if k.ptype == "p" || k.ptype == "g" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].ptype != keys[j].ptype {
			return keys[i].ptype == "p"
		}
		return rs[keys[i]] < rs[keys[j]]
	})
	return keys
}

// changesAfter returns the entity's log entries of the revisions after
// `after` up to rev, in order.
func (st *state) changesAfter(entityID string, after, rev int64) []changes.Entry {
	var out []changes.Entry
	for r, c := range st.changes[entityID] {
		if r > after && r <= rev {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

// The copies that keep callers' slices and pointers out of the tables.

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func copyClient(c auth.Client) auth.Client {
	c.Scopes = strings.Fields(strings.Join(c.Scopes, " "))
	c.CreatedAt = utc(c.CreatedAt)
	return c
}

func copyEvent(e policy.AuditEvent) policy.AuditEvent {
	e.Time = utc(e.Time)
	e.Before, e.After = bytes.Clone(e.Before), bytes.Clone(e.After)
	return e
}

func copyChange(c changes.Entry) changes.Entry {
	c.At = utc(c.At)
	c.Payload = append([]byte{}, c.Payload...)
	c.Items = bytes.Clone(c.Items)
	return c
}

func copyAssignment(a rolegate.Assignment) rolegate.Assignment {
	a.CreatedAt, a.ExpiresAt = utc(a.CreatedAt), utcPtr(a.ExpiresAt)
	return a
}

// tableIDs are the tables a write may copy, by bit.
const (
	tEntities = 1 << iota
	tRoles
	tUsers
	tAssignments
	tRules
	tSettings
	tClients
	tAudit
	tChanges
	tConditions
	tHistory
	tConstraints
)

// own makes the tables in mask the write's own copies, once per write. The
// maps of rules and changes are copied one entity at a time (ownRules,
// ownChanges).
func (t *tx) own(mask int) {
	st := &t.st
	todo := mask &^ t.owned
	t.owned |= mask
	if todo&tEntities != 0 {
		st.entities = maps.Clone(st.entities)
	}
	if todo&tRoles != 0 {
		st.roles = maps.Clone(st.roles)
	}
	if todo&tUsers != 0 {
		st.users = maps.Clone(st.users)
	}
	if todo&tAssignments != 0 {
		st.assignments = maps.Clone(st.assignments)
	}
	if todo&tRules != 0 {
		st.rules = maps.Clone(st.rules)
		t.ownedRules = map[string]bool{}
	}
	if todo&tSettings != 0 {
		st.settings = maps.Clone(st.settings)
	}
	if todo&tClients != 0 {
		st.clients = maps.Clone(st.clients)
	}
	if todo&tAudit != 0 {
		st.audit = maps.Clone(st.audit)
	}
	if todo&tChanges != 0 {
		st.changes = maps.Clone(st.changes)
		t.ownedChanges = map[string]bool{}
	}
	if todo&tConditions != 0 {
		st.conditions = maps.Clone(st.conditions)
	}
	if todo&tHistory != 0 {
		st.history = maps.Clone(st.history)
		t.ownedHistory = map[string]bool{}
	}
	if todo&tConstraints != 0 {
		st.constraints = maps.Clone(st.constraints)
	}
}

// ownRules returns the write's own copy of the entity's rules.
func (t *tx) ownRules(entityID string) map[ruleKey]int64 {
	t.own(tRules)
	if !t.ownedRules[entityID] {
		t.ownedRules[entityID] = true
		m := maps.Clone(t.st.rules[entityID])
		if m == nil {
			m = map[ruleKey]int64{}
		}
		t.st.rules[entityID] = m
	}
	return t.st.rules[entityID]
}

// ownChanges returns the write's own copy of the entity's change log.
func (t *tx) ownChanges(entityID string) map[int64]changes.Entry {
	t.own(tChanges)
	if !t.ownedChanges[entityID] {
		t.ownedChanges[entityID] = true
		m := maps.Clone(t.st.changes[entityID])
		if m == nil {
			m = map[int64]changes.Entry{}
		}
		t.st.changes[entityID] = m
	}
	return t.st.changes[entityID]
}
