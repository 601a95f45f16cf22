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
