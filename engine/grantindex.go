package engine

import (
	"slices"
	"strings"

	"github.com/rolegate/rolegate"
)

// grantIndex answers "which subjects name this object type" and "who holds
// this role" without walking the entity, for who-can, dry runs and explained
// refusals. Built on first use; a delta carries it over copy-on-write.
type grantIndex struct {
	// byObj maps an object type (or Wildcard) to the subjects (r:<role>,
	// u:<user>, u#<hash>) with a p rule on it, sorted.
	byObj *pmap[[]string]
	// holders maps a role subject to the link subjects (u:<user>,
	// s:<scope>|<user>, or their hashes) that hold it.
	holders *pmap[*pmap[struct{}]]
	// scopes maps a user to the scopes it holds roles in, sorted: what a
	// change of its entity-wide rights may change inside each.
	scopes *pmap[[]string]
}

// grants returns the snapshot's index, building it on first use (one pass
// over the units and links; later snapshots inherit it through apply).
func (s *snapshot) grants() *grantIndex {
	if g := s.grantIdx.Load(); g != nil {
		return g
	}
	byObj := map[string][]string{}
	s.units.each(func(sub string, u *unit) {
		for obj := range u.byObj {
			byObj[obj] = append(byObj[obj], sub)
		}
	})
	for _, subs := range byObj {
		slices.Sort(subs)
	}
	sets := map[string]map[string]struct{}{}
	scopes := map[string][]string{}
	s.links.each(func(link string, roles []string) {
		if u, sc := s.linkUser(link); sc != "" {
			scopes[u] = append(scopes[u], sc)
		}
		for _, r := range roles {
			set := sets[r]
			if set == nil {
				set = map[string]struct{}{}
				sets[r] = set
			}
			set[link] = struct{}{}
		}
	})
	holders := make(map[string]*pmap[struct{}], len(sets))
	for r, set := range sets {
		holders[r] = newPmap(set)
	}
	for _, l := range scopes {
		slices.Sort(l)
	}
	g := &grantIndex{byObj: newPmap(byObj), holders: newPmap(holders), scopes: newPmap(scopes)}
	if !s.grantIdx.CompareAndSwap(nil, g) {
		return s.grantIdx.Load()
	}
	return g
}

// linkChange is one g rule a delta added or removed.
type linkChange struct {
	link, role string
	add        bool
}

// carry returns the index of next, the snapshot that a delta makes of old,
// given the subjects whose p rules changed (now rules) and the g rules added
// or removed. It copies only the index entries those touch.
func (g *grantIndex) carry(old, next *snapshot, changed map[string][]rolegate.Rule, links []linkChange) *grantIndex {
	n := &grantIndex{byObj: g.byObj, holders: g.holders, scopes: g.scopes}
	if len(changed) > 0 {
		ed := g.byObj.edit()
		for sub, rs := range changed {
			was := map[string]bool{}
			if u, ok := old.units.get(sub); ok {
				for obj := range u.byObj {
					was[obj] = true
				}
			}
			now := map[string]bool{}
			for _, r := range rs {
				now[r.Values[2]] = true
			}
			for obj := range was {
				if !now[obj] {
					subs, _ := ed.get(obj)
					if i, found := slices.BinarySearch(subs, sub); found {
						subs = slices.Delete(slices.Clone(subs), i, i+1)
					}
					if len(subs) == 0 {
						ed.del(obj)
					} else {
						ed.set(obj, subs)
					}
				}
			}
			for obj := range now {
				if !was[obj] {
					subs, _ := ed.get(obj)
					if i, found := slices.BinarySearch(subs, sub); !found {
						subs = slices.Insert(slices.Clone(subs), i, sub)
					}
					ed.set(obj, subs)
				}
			}
		}
		n.byObj = ed.done()
	}
	if len(links) > 0 {
		ed := g.holders.edit()
		inner := map[string]*pmapEditor[struct{}]{}
		for _, c := range links {
			ie := inner[c.role]
			if ie == nil {
				set, _ := ed.get(c.role)
				ie = set.edit()
				inner[c.role] = ie
			}
			if c.add {
				ie.set(c.link, struct{}{})
			} else {
				ie.del(c.link)
			}
		}
		for role, ie := range inner {
			set := ie.done()
			if set.len() == 0 {
				ed.del(role)
			} else {
				ed.set(role, set)
			}
		}
		n.holders = ed.done()
		sc := g.scopes.edit()
		for _, c := range links {
			u, scope := next.linkUser(c.link)
			if scope == "" {
				continue
			}
			list, _ := sc.get(u)
			_, held := next.links.get(c.link)
			i, found := slices.BinarySearch(list, scope)
			switch {
			case held && !found:
				sc.set(u, slices.Insert(slices.Clone(list), i, scope))
			case !held && found && len(list) == 1:
				sc.del(u)
			case !held && found:
				sc.set(u, slices.Delete(slices.Clone(list), i, i+1))
			}
		}
		n.scopes = sc.done()
	}
	return n
}

// linkUser returns the user of a link subject (u:<user>, s:<scope>|<user>,
// or the hash of either) and its scope ("" entity-wide). A hashed subject
// is read from the snapshot's names; one without a name (a store whose
// rules lack their rows) gives "", as does any other subject.
func (s *snapshot) linkUser(link string) (user, scope string) {
	switch {
	case strings.HasPrefix(link, "u:"):
		return link[2:], ""
	case strings.HasPrefix(link, "s:"):
		scope, user, _ = strings.Cut(link[2:], "|")
		return user, scope
	case Hashed(link):
		n, _ := s.hashed.get(link)
		return n.UserID, n.Scope
	}
	return "", ""
}

// userOfSubject returns the user id of a user's subject (u:<user> or its
// hash), "" for another.
func (s *snapshot) userOfSubject(sub string) string {
	if !strings.HasPrefix(sub, "u") {
		return ""
	}
	u, _ := s.linkUser(sub)
	return u
}

// ruleMatches reports whether a p rule's object type and action cover a
// question's.
func ruleMatches(v []string, obj, act string) bool {
	return (v[2] == rolegate.Wildcard || v[2] == obj) && (v[3] == rolegate.Wildcard || v[3] == act)
}

// verdict is what one user's subjects say about one (object type, action):
// the roles (or the user's own rights, RoleID "") whose rules allow it, allow
// it on own objects, or deny it, each with its condition.
type verdict struct {
	allow, own, deny []Match
}

// permission is the value the matched rights that apply give (a conditional
// right applies as in a check: Match.applies).
func (v verdict) permission() rolegate.Permission {
	ap := v.applying()
	switch {
	case len(ap.deny) > 0:
		return rolegate.Denied
	case len(ap.allow) > 0:
		return rolegate.Allowed
	case len(ap.own) > 0:
		return rolegate.AllowedForOwn
	}
	return rolegate.NotAllowed
}

// applying keeps the matched rights that apply.
func (v verdict) applying() verdict {
	keep := func(ms []Match) []Match {
		var out []Match
		for _, m := range ms {
			if m.applies() {
				out = append(out, m)
			}
		}
		return out
	}
	return verdict{allow: keep(v.allow), own: keep(v.own), deny: keep(v.deny)}
}

// holding reads a verdict whose conditions were not evaluated (no resource):
// the value the user may get, the rights that give it, and the condition
// under which it holds ("" for none): the allowing conditions joined with
// ||, and-not the conditional denies that may apply. An unconditional deny
// wins outright. A verdict with conditional denies only is denied under them.
// One value is given: a user allowed under a condition who also holds an
// unconditional allowed_for_own is listed as allowed under the condition.
func (v verdict) holding() (p rolegate.Permission, via []Match, cond string) {
	deny, denyAll := conditionPart(v.deny)
	switch {
	case denyAll:
		return rolegate.Denied, v.deny, ""
	case len(v.allow) > 0:
		allow, all := conditionPart(v.allow)
		return rolegate.Allowed, v.allow, andNot(all, allow, deny)
	case len(v.own) > 0:
		own, all := conditionPart(v.own)
		return rolegate.AllowedForOwn, v.own, andNot(all, own, deny)
	case len(v.deny) > 0:
		return rolegate.Denied, v.deny, deny
	}
	return rolegate.NotAllowed, nil, ""
}

// conditionPart joins the conditions of matched rights with || (each
// parenthesised when more than one, sorted); unconditional is true when one
// of them has none (the part is then always true).
func conditionPart(ms []Match) (expr string, unconditional bool) {
	var conds []string
	for _, m := range ms {
		if m.Condition == "" {
			return "", true
		}
		if !slices.Contains(conds, m.Condition) {
			conds = append(conds, m.Condition)
		}
	}
	slices.Sort(conds)
	switch len(conds) {
	case 0:
		return "", false
	case 1:
		return conds[0], false
	}
	return "(" + strings.Join(conds, ") || (") + ")", false
}

// andNot is the condition of an allow part (always true when all) unless a
// deny part ("" for none).
func andNot(all bool, allow, deny string) string {
	switch {
	case deny == "" && all:
		return ""
	case deny == "":
		return allow
	case all:
		return "!(" + deny + ")"
	}
	return "(" + allow + ") && !(" + deny + ")"
}

// evalFunc evaluates a condition by hash for one user and resource.
type evalFunc func(hash string) (bool, error)

// evaluator returns an evalFunc over a resource and a user's attributes at
// the engine's time, evaluating each condition once. resourceChecked is
// condition.WithinLimits(resource), found once by the caller for all users.
func (s *snapshot) evaluator(resource map[string]any, resourceChecked bool, userID string) evalFunc {
	in := s.conditionInput(resource, resourceChecked, userID)
	type result struct {
		v   bool
		err error
	}
	memo := map[string]result{}
	return func(hash string) (bool, error) {
		if r, ok := memo[hash]; ok {
			return r.v, r.err
		}
		v, err := s.evalCondition(hash, in)
		memo[hash] = result{v, err}
		return v, err
	}
}

// judge reads what the given subjects' units say about (obj, act), as the
// engine's model decides it: any deny wins, then any allow, then an allow on
// own objects. With ev, each conditional right carries its value or error
// (verdict.permission counts those that apply); without, only its condition
// (verdict.holding), a right naming an unknown condition then dropped when it
// allows and unconditional when it denies, as it is in checks.
func (s *snapshot) judge(subjects []string, obj, act string, ev evalFunc) verdict {
	var v verdict
	add := func(list *[]Match, m Match) {
		if !slices.ContainsFunc(*list, m.same) {
			*list = append(*list, m)
		}
	}
	for _, sub := range subjects {
		u, ok := s.units.get(sub)
		if !ok {
			continue
		}
		base := Match{RoleID: roleIDOf(sub)}
		base.RoleName, _ = s.roleNames.get(base.RoleID)
		for _, rules := range [][][]string{u.byObj[obj], u.byObj[rolegate.Wildcard]} {
			for _, r := range rules {
				if !ruleMatches(r, obj, act) {
					continue
				}
				m := base
				m.Permission = rulePermission(rolegate.Rule{Values: r})
				if _, hash := splitCond(r[4]); hash != "" {
					m.Condition = s.conditionSource(hash)
					switch {
					case ev != nil:
						if val, err := ev(hash); err != nil {
							m.ConditionError = err.Error()
						} else {
							m.ConditionValue = &val
						}
					case m.Condition == "" && m.Permission != rolegate.Denied:
						continue // unknown: never allows
					}
				}
				switch m.Permission {
				case rolegate.Denied:
					add(&v.deny, m)
				case rolegate.AllowedForOwn:
					add(&v.own, m)
				default:
					add(&v.allow, m)
				}
			}
			if obj == rolegate.Wildcard {
				break
			}
		}
	}
	for _, l := range [][]Match{v.allow, v.own, v.deny} {
		sortMatches(l)
	}
	return v
}

func sortMatches(ms []Match) {
	slices.SortStableFunc(ms, func(a, b Match) int {
		if c := strings.Compare(a.RoleName, b.RoleName); c != 0 {
			return c
		}
		if c := strings.Compare(a.RoleID, b.RoleID); c != 0 {
			return c
		}
		return strings.Compare(a.Condition, b.Condition)
	})
}
