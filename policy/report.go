package policy

import (
	"context"
	"github.com/rolegate/rolegate"
	"slices"
	"sort"
)

// ReportRight is one row of an access review: a user's effective right
// (allowed or allowed_for_own, after deny), entity-wide or (Scope set) held
// only inside a scope, and what gives it: the roles, a Match with an empty
// RoleID for the user's own rights.
type ReportRight struct {
	Right
	Via []Match
}

// AccessReport streams an access review of the entity, for SOC 2 or ISO
// 27001: every user in id order, every effective right, the roles behind it.
// The rights come from one snapshot of the entity's policy (revision is
// given to header before any row), the users from the store, 500 at a time:
// nothing holds the whole report. An error from emit (the client went away)
// stops it. The caller needs the rights to read users and roles.
func (s *Service) AccessReport(ctx context.Context, entityID string, header func(revision int64) error, emit func(ReportRight) error) error {
	if err := s.authorizeReview(ctx, entityID); err != nil {
		return err
	}
	if err := s.known(ctx, entityID); err != nil {
		return err
	}
	snap, err := s.engine.snapshot(ctx, entityID)
	if err != nil {
		return unavailable(err)
	}
	if err := header(snap.revision); err != nil {
		return err
	}
	idx := snap.grants()
	p := Page{Limit: 500, Sort: "id"}
	for {
		var users []rolegate.User
		err := s.store.View(ctx, func(tx Tx) error {
			var err error
			users, err = tx.ListUsers(entityID, UserFilter{}, p)
			return err
		})
		if err != nil {
			return err
		}
		for _, u := range users {
			sub := UserSubject(u.ID)
			wide := snap.rightsOf(u.ID, "", snap.subjects(sub, ""), nil)
			for _, r := range wide {
				if err := emit(r); err != nil {
					return err
				}
			}
			scopes, _ := idx.scopes.get(u.ID)
			for _, sc := range scopes {
				for _, r := range snap.rightsOf(u.ID, sc, snap.subjects(sub, ScopedSubject(sc, u.ID)), wide) {
					if err := emit(r); err != nil {
						return err
					}
				}
			}
		}
		if len(users) < p.Limit {
			return nil
		}
		last := users[len(users)-1].ID
		p.After = &Cursor{Value: last, ID: last}
	}
}

// rightsOf returns a user's effective rights from the given subjects, sorted,
// each with the subjects whose rule gives exactly that value; those in skip
// (the entity-wide ones, for a scope) are left out.
func (s *snapshot) rightsOf(user, scope string, subjects []string, skip []ReportRight) []ReportRight {
	values := allowedRights(s.effective(subjects))
	if len(values) == 0 {
		return nil
	}
	held := make(map[rightKey]rolegate.Permission, len(skip))
	for _, r := range skip {
		held[rightKey{r.ObjectType, r.Action}] = r.Permission
	}
	out := make([]ReportRight, 0, len(values))
	for k, v := range values {
		if held[k] == v {
			continue
		}
		r := ReportRight{Right: Right{UserID: user, Scope: scope, ObjectType: k.obj, Action: k.act, Permission: v}}
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
