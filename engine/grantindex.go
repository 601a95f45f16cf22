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
// it on own objects, or deny it.
type verdict struct {
	allow, own, deny []Match
}

func (v verdict) permission() rolegate.Permission {
	switch {
	case len(v.deny) > 0:
		return rolegate.Denied
	case len(v.allow) > 0:
		return rolegate.Allowed
	case len(v.own) > 0:
		return rolegate.AllowedForOwn
	}
	return rolegate.NotAllowed
}

// judge reads what the given subjects' units say about (obj, act), as the
// engine's model decides it: any deny wins, then any allow, then an allow on
// own objects.
func (s *snapshot) judge(subjects []string, obj, act string) verdict {
	var v verdict
	add := func(list *[]Match, m Match) {
		if !slices.Contains(*list, m) {
			*list = append(*list, m)
		}
	}
	for _, sub := range subjects {
		u, ok := s.units.get(sub)
		if !ok {
			continue
		}
		m := Match{RoleID: roleIDOf(sub)}
		m.RoleName, _ = s.roleNames.get(m.RoleID)
		for _, rules := range [][][]string{u.byObj[obj], u.byObj[rolegate.Wildcard]} {
			for _, r := range rules {
				if !ruleMatches(r, obj, act) {
					continue
				}
				m.Permission = rulePermission(rolegate.Rule{Values: r})
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
	slices.SortFunc(ms, func(a, b Match) int {
		if c := strings.Compare(a.RoleName, b.RoleName); c != 0 {
			return c
		}
		return strings.Compare(a.RoleID, b.RoleID)
	})
}
