package handlers

import (
	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// A compatible API names concrete object types and actions only: Monite's
// document enumerates them, Dintero's scope strings are <action>:<resource>,
// Papershift's groups are what the account's system roles hold. Rolegate's
// wildcard "*" is none of these. A facadeView is what one API shows of
// rights: a wildcard right is shown as the concrete rights it covers in the
// API's catalog, each concrete right carries the value the role's rights
// give it (the engine's order: denied > allowed > allowed_for_own >
// not_allowed), and only the rights the API can express are kept. Writing
// back what a view showed keeps the rights as they were (Merge). The Service
// applies Merge inside the write's transaction (RoleInput.MergeRights).
//
// No compatible API can express a condition. A conditional allowed or
// allowed_for_own right is not shown at all (it grants only when its
// condition holds, so showing it as allowed would overstate it), and a
// conditional denied right is counted as a deny (it may apply), so the rights
// it could deny are never shown as allowed either. A write keeps every
// conditional right it does not name; one that names the same object type and
// action replaces the conditional right with what it says, unconditional (the
// caller asked for exactly that value).

// facadeView is what one API shows of rights.
type facadeView struct {
	// catalog holds the concrete object types and actions a wildcard stands
	// for in this API (its *_codec.go). Nil: wildcards cover nothing the API
	// can show.
	catalog *policy.Catalog
	// shows reports whether the API can express a concrete right.
	shows shownFunc
}

type pair = [2]string

func isWildcard(objectType, action string) bool {
	return objectType == rolegate.Wildcard || action == rolegate.Wildcard
}

// expand lists the catalog's concrete pairs that (objectType, action) covers,
// in catalog order.
func expand(c *policy.Catalog, objectType, action string) []pair {
	if c == nil {
		return nil
	}
	var out []pair
	for _, o := range c.ObjectTypes {
		if objectType != rolegate.Wildcard && objectType != o.ObjectType {
			continue
		}
		for _, a := range o.Actions {
			if action == rolegate.Wildcard || action == a {
				out = append(out, pair{o.ObjectType, a})
			}
		}
	}
	return out
}

// Visible returns the rights as the API shows them: concrete rights only,
// the role's authored ones first in their order, then those its wildcards
// add, in catalog order.
func (v *facadeView) Visible(p rolegate.Permissions) rolegate.Permissions {
	val := map[pair]rolegate.Permission{}
	var order []pair
	add := func(k pair, perm rolegate.Permission) {
		cur, ok := val[k]
		if !ok {
			order = append(order, k)
			val[k] = perm
			return
		}
		if engine.Rank(perm) > engine.Rank(cur) {
			val[k] = perm
		}
	}
	var wild []pair
	var wildPerm []rolegate.Permission
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Condition != "" {
				if a.Permission != rolegate.Denied {
					continue // granted only when its condition holds: not shown
				}
				a = rolegate.ActionPermission{ActionName: a.ActionName, Permission: rolegate.Denied}
			}
			if isWildcard(o.ObjectType, a.ActionName) {
				wild = append(wild, pair{o.ObjectType, a.ActionName})
				wildPerm = append(wildPerm, a.Permission)
				continue
			}
			add(pair{o.ObjectType, a.ActionName}, a.Permission)
		}
	}
	for i, w := range wild {
		for _, k := range order { // authored rights the wildcard also covers
			if (w[0] == rolegate.Wildcard || w[0] == k[0]) && (w[1] == rolegate.Wildcard || w[1] == k[1]) {
				add(k, wildPerm[i])
			}
		}
		for _, k := range expand(v.catalog, w[0], w[1]) {
			add(k, wildPerm[i])
		}
	}
	out := rolegate.Permissions{}
	for _, k := range order {
		a := rolegate.ActionPermission{ActionName: k[1], Permission: val[k]}
		if !v.shows(k[0], a) {
			continue
		}
		if n := len(out.Objects); n > 0 && out.Objects[n-1].ObjectType == k[0] {
			out.Objects[n-1].Actions = append(out.Objects[n-1].Actions, a)
			continue
		}
		out.Objects = append(out.Objects, rolegate.ObjectPermissions{ObjectType: k[0], Actions: []rolegate.ActionPermission{a}})
	}
	return out
}

// shown reports whether the API shows a right: a concrete one when Shows
// says so, a wildcard one when it shows any concrete right it covers. A
// conditional right is never shown (no compatible API can say "allowed if"),
// so a write through the API keeps it unless the write names its object type
// and action.
func (v *facadeView) shown(objectType string, a rolegate.ActionPermission) bool {
	if a.Condition != "" {
		return false
	}
	if !isWildcard(objectType, a.ActionName) {
		return v.shows(objectType, a)
	}
	for _, k := range expand(v.catalog, objectType, a.ActionName) {
		if v.shows(k[0], rolegate.ActionPermission{ActionName: k[1], Permission: a.Permission}) {
			return true
		}
	}
	return false
}

func visibleMap(p rolegate.Permissions) map[pair]rolegate.Permission {
	out := map[pair]rolegate.Permission{}
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			out[pair{o.ObjectType, a.ActionName}] = a.Permission
		}
	}
	return out
}

// Merge is the rights after a write of next through the API, prev being the
// rights before it:
//   - next showing exactly what prev shows (a read-modify-write that changed
//     nothing) leaves prev as it is, wildcards and unseen rights included;
//   - a wildcard right of prev whose shown rights next leaves unchanged stays
//     a wildcard (the concrete rights of next it implies are folded into it);
//     one whose shown rights next changes is replaced by what next says;
//   - the rights of prev the API does not show, and next does not name, are
//     kept (keepUnseen).
func (v *facadeView) Merge(prev, next rolegate.Permissions) rolegate.Permissions {
	before, after := visibleMap(v.Visible(prev)), visibleMap(v.Visible(next))
	if equalMaps(before, after) {
		return prev
	}
	named := visibleMap(next)
	var kept []rolegate.ObjectPermissions
	fold := map[pair]bool{}
	for _, o := range prev.Objects {
		for _, a := range o.Actions {
			w := pair{o.ObjectType, a.ActionName}
			if !isWildcard(w[0], w[1]) || !v.shown(w[0], a) {
				continue
			}
			if _, ok := named[w]; ok {
				continue // next writes this wildcard itself
			}
			cover := expand(v.catalog, w[0], w[1])
			same := true
			for _, k := range cover {
				if before[k] != after[k] {
					same = false
					break
				}
			}
			if !same {
				continue
			}
			for _, k := range cover {
				if after[k] == a.Permission {
					fold[k] = true
				}
			}
			kept = append(kept, rolegate.ObjectPermissions{ObjectType: w[0], Actions: []rolegate.ActionPermission{a}})
		}
	}
	merged := rolegate.Permissions{}
	for _, o := range next.Objects {
		op := rolegate.ObjectPermissions{ObjectType: o.ObjectType}
		for _, a := range o.Actions {
			if !fold[pair{o.ObjectType, a.ActionName}] {
				op.Actions = append(op.Actions, a)
			}
		}
		if len(op.Actions) > 0 {
			merged.Objects = append(merged.Objects, op)
		}
	}
	merged.Objects = append(merged.Objects, kept...)
	return keepUnseen(prev, merged, v.shown)
}

func equalMaps(a, b map[pair]rolegate.Permission) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// rank orders the values as the engine does: denied > allowed >
// allowed_for_own > not_allowed.
func rank(p rolegate.Permission) int {
	switch p {
	case rolegate.Denied:
		return 3
	case rolegate.Allowed:
		return 2
	case rolegate.AllowedForOwn:
		return 1
	}
	return 0
}
