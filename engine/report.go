package engine

import (
	"context"
	"slices"
	"sort"

	"github.com/rolegate/rolegate"
)

// ReportRight is one row of an access review: a user's effective right
// (allowed or allowed_for_own, after deny), entity-wide or (Scope set) held
// only inside a scope, and what gives it: the roles, a Match with an empty
// RoleID for the user's own rights.
type ReportRight struct {
	Right
	Via []Match
	// Violates names the separation-of-duties constraints the user is in
	// violation of (rolegate.Constraint, exceptions in force left out), on
	// every row of the user; nil when none. The engine leaves it nil: the
	// service sets it (policy.Service.AccessReport).
	Violates []string
}

// Report reads one snapshot of an entity's policy for an access review.
type Report struct {
	s   *snapshot
	idx *grantIndex
}

// Report returns the entity's policy held now, for an access review.
func (e *Engine) Report(ctx context.Context, entityID string) (*Report, error) {
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return nil, err
	}
	return s.report(), nil
}

// report reads the snapshot for an access review.
func (s *snapshot) report() *Report { return &Report{s: s, idx: s.grants()} }

// Revision is the revision of the policy the report reads.
func (r *Report) Revision() int64 { return r.s.revision }

// UserRights returns a user's effective rights entity-wide, then what each
// scope the user holds roles in adds to them, each with the roles behind it.
func (r *Report) UserRights(userID string) []ReportRight {
	sub := UserSubject(userID)
	out := r.s.rightsOf(userID, "", r.s.subjects(sub, ""), nil)
	wide := out
	scopes, _ := r.idx.scopes.get(userID)
	for _, sc := range scopes {
		out = append(out, r.s.rightsOf(userID, sc, r.s.subjects(sub, ScopedSubject(sc, userID)), wide)...)
	}
	return out
}

// rightsOf returns a user's effective rights from the given subjects, sorted,
// each with the subjects whose rule gives exactly that value; those in skip
// (the entity-wide ones, for a scope) are left out.
func (s *snapshot) rightsOf(user, scope string, subjects []string, skip []ReportRight) []ReportRight {
	values := allowedRights(s.effective(subjects))
	if len(values) == 0 {
		return nil
	}
	held := make(map[rightKey]rightValue, len(skip))
	for _, r := range skip {
		held[rightKey{r.ObjectType, r.Action}] = rightValue{r.Permission, r.Condition}
	}
	out := make([]ReportRight, 0, len(values))
	for k, val := range values {
		if held[k] == val {
			continue
		}
		v := val.p
		r := ReportRight{Right: Right{UserID: user, Scope: scope, ObjectType: k.obj, Action: k.act, Permission: v, Condition: val.cond}}
		for _, sub := range subjects {
			u, ok := s.units.get(sub)
			if !ok {
				continue
			}
			for _, rule := range u.byObj[k.obj] {
				if rule[3] == k.act && rulePermission(rolegate.Rule{Values: rule}) == v {
					m := Match{RoleID: roleIDOf(sub)}
					m.RoleName, _ = s.roleNames.get(m.RoleID)
					if !slices.Contains(r.Via, m) {
						r.Via = append(r.Via, m)
					}
					break
				}
			}
		}
		sortMatches(r.Via)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ObjectType != out[j].ObjectType {
			return out[i].ObjectType < out[j].ObjectType
		}
		return out[i].Action < out[j].Action
	})
	return out
}
