package policy

import (
	"context"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// Answers as of a past instant (issue 25). Every write records what it
// changed in the entity's history, in its own transaction (HistoryStore);
// these answer from the policy of a past revision. They are guarded like
// the live answers plus the audit log's right (ObjectAuditEvent read):
// history reveals past roles and users.
//
// An AsOf before the entity existed is refused with 422 before_history, one
// older than the history kept (the retention) with 422 beyond_retention, a
// revision past the entity's current one with 422 invalid_revision.

// errNotBuilt marks what is still to be built.
var errNotBuilt = rolegate.Errorf(rolegate.KindUnavailable, "not_built", "not built yet")

// WhoCanAt is WhoCan over the policy at (the zero AsOf: now); it returns the
// holders and the revision answered from.
func (s *Service) WhoCanAt(ctx context.Context, at rolegate.AsOf, entityID, obj, act, scope, after string, limit int, resource map[string]any) ([]engine.Holder, int64, error) {
	return nil, 0, errNotBuilt
}

// UserPermissionsAt is UserPermissions over the policy at; it returns the
// rights and the revision answered from.
func (s *Service) UserPermissionsAt(ctx context.Context, at rolegate.AsOf, entityID, userID, scope string) (rolegate.Permissions, int64, error) {
	return rolegate.Permissions{}, 0, errNotBuilt
}

// AccessReportAt is AccessReport over the policy at.
func (s *Service) AccessReportAt(ctx context.Context, at rolegate.AsOf, entityID string, header func(revision int64) error, emit func(engine.ReportRight) error) error {
	return errNotBuilt
}

// HistoryQuery asks a user's access history: the intervals during which it
// could do Action on ObjectType (inside Scope too, when set) between From
// and To (zero: since the history begins, until now).
type HistoryQuery struct {
	ObjectType string
	Action     string
	Scope      string
	From, To   time.Time
}

// AccessHistory returns the intervals during which the user could do the
// query's action, oldest first, and the entity's current revision.
func (s *Service) AccessHistory(ctx context.Context, entityID, userID string, q HistoryQuery) ([]rolegate.AccessInterval, int64, error) {
	return nil, 0, errNotBuilt
}
