package engine

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/rolegate/rolegate"
)

// Right is one effective right of a user: what it may do on an object type
// (Wildcard: every one), allowed or allowed_for_own, after deny. Scope is set
// for a right the user holds only inside that scope.
type Right struct {
	UserID     string
	Scope      string
	ObjectType string
	Action     string
	Permission rolegate.Permission
	// Condition is the condition under which the right holds ("" for
	// none): the conditions of the rights that allow it, joined with ||.
	Condition string
}

type rightKey struct{ obj, act string }

// rightValue is the value an (object type, action) gets and the condition
// under which (verdict.holding; "" for none).
type rightValue struct {
	p    rolegate.Permission
	cond string
}

// effective returns the values the subjects' rules give each (object type,
// action) they name, after deny-override: Engine.Effective, dry runs and the
// access report all read rights through it. Conditions are not evaluated: a
// right allowed under conditions carries them (verdict.holding), and a
// conditional deny over an allow makes its condition "allow part and not
// deny part".
func (s *snapshot) effective(subjects []string) map[rightKey]rightValue {
	named := map[rightKey]*verdict{}
	type deny struct {
		key rightKey
		m   Match
	}
	var denies []deny
	for _, subject := range subjects {
		u, ok := s.units.get(subject)
		if !ok {
			continue
		}
		base := Match{RoleID: roleIDOf(subject)}
		for _, r := range u.rules {
			k := rightKey{r.Values[2], r.Values[3]}
			m := base
			m.Permission = rulePermission(r)
			if _, hash := splitCond(r.Values[4]); hash != "" {
				if m.Condition = s.conditionSource(hash); m.Condition == "" && m.Permission != rolegate.Denied {
					continue // unknown: never allows
				}
			}
			v := named[k]
			if v == nil {
				v = &verdict{}
				named[k] = v
			}
			switch m.Permission {
			case rolegate.Denied:
				denies = append(denies, deny{k, m})
			case rolegate.AllowedForOwn:
				v.own = append(v.own, m)
			default:
				v.allow = append(v.allow, m)
			}
		}
	}
	values := make(map[rightKey]rightValue, len(named))
	for k, v := range named {
		for _, d := range denies {
			if (d.key.obj == rolegate.Wildcard || d.key.obj == k.obj) && (d.key.act == rolegate.Wildcard || d.key.act == k.act) {
				v.deny = append(v.deny, d.m)
			}
		}
		p, _, cond := v.holding()
		values[k] = rightValue{p, cond}
	}
	return values
}

// allowedRights are the allowed and allowed_for_own entries of effective.
func allowedRights(values map[rightKey]rightValue) map[rightKey]rightValue {
	for k, v := range values {
		if v.p != rolegate.Allowed && v.p != rolegate.AllowedForOwn {
			delete(values, k)
		}
	}
	return values
}

// SortRights orders rights by user, scope, object type, action and value.
func SortRights(rs []Right) {
	slices.SortFunc(rs, func(a, b Right) int {
		for _, c := range [...]int{strings.Compare(a.UserID, b.UserID), strings.Compare(a.Scope, b.Scope),
			strings.Compare(a.ObjectType, b.ObjectType), strings.Compare(a.Action, b.Action),
			strings.Compare(string(a.Permission), string(b.Permission)), strings.Compare(a.Condition, b.Condition)} {
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

// Effective returns a user's effective rights in an entity, in the role
// permissions shape: every (object type, action) any of the user's roles or own
// rights names, with its value after deny-override and, when it holds under
// conditions only, their condition (see effective). Scope adds the user's
// assignments inside it.
func (e *Engine) Effective(ctx context.Context, entityID, userID, scope string) (rolegate.Permissions, int64, error) {
	return e.EffectiveAt(ctx, entityID, userID, scope, 0)
}

// EffectiveAt is Effective as the user's rights will be at the instant at
// (Unix ms; 0: now), when the assignments expiring before it no longer count:
// what the escalation guard reads to know whether a right given until then
// (math.MaxInt64: for good) is held that long.
func (e *Engine) EffectiveAt(ctx context.Context, entityID, userID, scope string, at int64) (rolegate.Permissions, int64, error) {
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return rolegate.Permissions{}, 0, err
	}
	return s.permissions(userID, scope, at), s.revision, nil
}

// permissions is a user's effective rights in the snapshot (see Effective),
// at the instant at (Unix ms; 0: the snapshot's clock).
func (s *snapshot) permissions(userID, scope string, at int64) rolegate.Permissions {
	sub := UserSubject(userID)
	ssub := ""
	if scope != "" {
		ssub = ScopedSubject(scope, userID)
	}
	subjects := s.subjects(sub, ssub)
	if at != 0 {
		subjects = s.subjectsAt(sub, ssub, at)
	}
	values := s.effective(subjects)
	byObj := map[string][]rolegate.ActionPermission{}
	for p, v := range values {
		byObj[p.obj] = append(byObj[p.obj], rolegate.ActionPermission{ActionName: p.act, Permission: v.p, Condition: v.cond})
	}
	var out rolegate.Permissions
	for obj, acts := range byObj {
		sort.Slice(acts, func(i, j int) bool { return acts[i].ActionName < acts[j].ActionName })
		out.Objects = append(out.Objects, rolegate.ObjectPermissions{ObjectType: obj, Actions: acts})
	}
	sort.Slice(out.Objects, func(i, j int) bool { return out.Objects[i].ObjectType < out.Objects[j].ObjectType })
	return out
}

// Rank orders values by which wins where two rights name one (object type,
// action): denied, allowed, allowed_for_own, not_allowed.
func Rank(p rolegate.Permission) int {
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
