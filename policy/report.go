package policy

import (
	"context"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// AccessReport streams an access review of the entity, for SOC 2 or ISO
// 27001: every user in id order, every effective right, the roles behind it.
// The rights come from one snapshot of the entity's policy (revision is
// given to header before any row), the users from the store, 500 at a time:
// nothing holds the whole report. An error from emit (the client went away)
// stops it. The caller needs the rights to read users and roles.
//
// A user in violation of one of the entity's separation-of-duties
// constraints (either mode; exceptions in force left out) has every row
// marked with the names of those constraints (ReportRight.Violates), from
// one scan of the entity made with the report.
func (s *Service) AccessReport(ctx context.Context, entityID string, header func(revision int64) error, emit func(engine.ReportRight) error) error {
	if err := s.authorizeReview(ctx, entityID); err != nil {
		return err
	}
	if err := s.known(ctx, entityID); err != nil {
		return err
	}
	rep, err := s.engine.Report(ctx, entityID)
	if err != nil {
		return unavailable(err)
	}
	violates, err := s.violatesByUser(ctx, entityID)
	if err != nil {
		return err
	}
	if err := header(rep.Revision()); err != nil {
		return err
	}
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
			for _, r := range rep.UserRights(u.ID) {
				r.Violates = violates[u.ID]
				if err := emit(r); err != nil {
					return err
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

// violatesByUser returns, for each user in violation of one of the entity's
// constraints now (exceptions in force left out), the names of those
// constraints in order of name; nil when the entity has none.
func (s *Service) violatesByUser(ctx context.Context, entityID string) (map[string][]string, error) {
	var cs []rolegate.Constraint
	if err := s.store.View(ctx, func(tx Tx) error {
		var err error
		cs, err = tx.ListConstraints(entityID)
		return err
	}); err != nil || len(cs) == 0 {
		return nil, err
	}
	vs, _, err := s.engine.ScanViolations(ctx, entityID, cs)
	if err != nil {
		return nil, unavailable(err)
	}
	out := map[string][]string{}
	for _, v := range withoutExcepted(vs, cs, s.clock()) {
		if names := out[v.UserID]; len(names) == 0 || names[len(names)-1] != v.ConstraintName {
			out[v.UserID] = append(names, v.ConstraintName)
		}
	}
	return out, nil
}
