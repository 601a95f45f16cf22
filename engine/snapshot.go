package engine

import (
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/rolegate/rolegate"
)

// snapshot is one entity's policy at one revision: immutable once built. A
// change makes a new snapshot that shares every unit and index bucket it does
// not touch (copy-on-write).
type snapshot struct {
	entityID string
	revision int64
	created  time.Time // when the entity was created (Policy.Created)
	exists   bool
	// units holds each subject's p rules (r:<role>, u:<user>) by object
	// type: a check costs what the user holds, not what the entity holds.
	units *pmap[*unit]
	// links are the entity's g rules: u:<user> or s:<scope>|<user> (or their
	// hashes) -> the role subjects it holds.
	links     *pmap[[]string]
	roleNames *pmap[string] // role id -> name, active roles
	// hashed names the hashed subjects (Policy.Hashed); nil when none.
	// Deltas only add to it: a name whose subject lost its rules names
	// nothing.
	hashed *pmap[HashedName]
	// expiry holds the expiring assignments (expiry.go): link and role ->
	// when it stops counting, in Unix milliseconds.
	expiry *pmap[int64]
	// conds are the conditions the rules name (any:<hash>, own:<hash>) by
	// hash, each compiled on first use; attrs the users' attributes by
	// user id, which conditions read as user.
	conds *pmap[*condEntry]
	attrs *pmap[map[string]any]
	// decisions caches answers this snapshot gave; it goes with the
	// snapshot, so no answer outlives the policy that gave it.
	decisions atomic.Pointer[decisionTable]
	released  atomic.Bool // its table was given back to the budget
	engine    *Engine
	// grantIdx indexes who names an object type and who holds a role
	// (grantindex.go): built on first use, carried over by deltas.
	grantIdx atomic.Pointer[grantIndex]
	// asOf, when set, is the instant the snapshot is read at (a view of a
	// past policy, past.go): expiring assignments and conditions reading
	// now are judged at it rather than by the engine's clock.
	asOf time.Time
	// lastView is the last view of the snapshot read at an instant (at).
	lastView atomic.Pointer[snapshot]
}

// unit is one subject's p rules, grouped by object type (Wildcard: the rules
// for every object type).
type unit struct {
	rules []rolegate.Rule
	byObj map[string][][]string
}

func newUnit(rules []rolegate.Rule) *unit {
	u := &unit{rules: rules, byObj: make(map[string][][]string, 4)}
	for _, r := range rules {
		u.byObj[r.Values[2]] = append(u.byObj[r.Values[2]], r.Values)
	}
	return u
}

// build makes a snapshot from an entity's rules, in one pass over them: the
// p rules grouped into one unit per subject, the g rules into the user index.
func (e *Engine) build(entityID string, pol Policy) (*snapshot, error) {
	s := &snapshot{entityID: entityID, revision: pol.Revision, created: pol.Created}
	rights := map[string][]rolegate.Rule{}
	ng := 0
	for _, r := range pol.Rules {
		if r.PType == "g" {
			ng++
		}
	}
	// Users hold a few roles each: about half as many users as g rules.
	links := sizedPmap[[]string](ng / 2)
	// The rules of the units and the role ids repeat the same strings: keep
	// one copy of each. (A g rule's user becomes a key of links, kept once
	// as it is.)
	in := make(interner, 256)
	// A user's g rules mostly come one after the other: its roles are
	// gathered, then put once, cut from a shared block.
	var (
		user    string
		pending bool
		held    []string
		block   []string
	)
	flush := func() {
		if !pending {
			return
		}
		if len(block)+len(held) > cap(block) {
			block = make([]string, 0, max(4096, len(held)))
		}
		i := len(block)
		block = append(block, held...)
		links.merge(user, block[i:len(block):len(block)], func(prev, roles []string) []string {
			for _, r := range roles { // rules of the user seen before
				prev = appendOnce(prev, r)
			}
			return prev
		})
		held, pending = held[:0], false
	}
	var expiry map[string]int64
	for _, r := range pol.Rules {
		switch {
		case r.PType == "p" && len(r.Values) == 6:
			in.rule(r)
			rights[r.Values[0]] = append(rights[r.Values[0]], r)
		case r.PType == "g" && validLink(r):
			if !pending || r.Values[0] != user {
				flush()
				user, pending = r.Values[0], true
			}
			held = appendOnce(held, in.of(r.Values[1]))
			if at, ok := linkExpiry(r); ok {
				if expiry == nil {
					expiry = map[string]int64{}
				}
				expiry[expiryKey(r.Values[0], r.Values[1])] = at
			}
		default:
			return nil, fmt.Errorf("entity %q: malformed rule %q", entityID, r.String())
		}
	}
	flush()
	units := sizedPmap[*unit](len(rights))
	for sub, rs := range rights {
		units.put(sub, newUnit(rs))
	}
	names := make(map[string]string, len(pol.RoleNames))
	for id, n := range pol.RoleNames {
		names[id] = n
	}
	s.units, s.links, s.roleNames = units, links, newPmap(names)
	if len(pol.Hashed) > 0 {
		s.hashed = newPmap(maps.Clone(pol.Hashed))
	}
	if expiry != nil {
		s.expiry = newPmap(expiry)
	}
	conds := make(map[string]*condEntry, len(pol.Conditions))
	for h, src := range pol.Conditions {
		conds[h] = newCondEntry(src)
	}
	s.conds = newPmap(conds)
	s.attrs = sizedPmap[map[string]any](len(pol.Attributes))
	for u, a := range pol.Attributes {
		if len(a) > 0 {
			s.attrs.put(u, a)
		}
	}
	return s, nil
}

// interner keeps one copy of each string rules repeat.
type interner map[string]string

func (in interner) rule(r rolegate.Rule) {
	for i, v := range r.Values {
		r.Values[i] = in.of(v)
	}
}

func (in interner) of(v string) string {
	if c, ok := in[v]; ok {
		return c
	}
	in[v] = v
	return v
}

func appendOnce(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
