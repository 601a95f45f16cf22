package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// replaceRoles makes the user's roles inside scope ("" entity-wide) exactly
// roleIDs. The caller must hold the rights of every role it adds.
func (s *Service) replaceRoles(ctx context.Context, tx Tx, entityID, userID, scope string, roleIDs []string, now time.Time) error {
	want, err := activeRoles(tx, entityID, roleIDs)
	if err != nil {
		return err
	}
	have, err := tx.ListAssignments(entityID, AssignmentFilter{UserID: userID, Scope: &scope})
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, r := range want {
		keep[r.ID] = true
	}
	// What the change gives: the allows of the roles added, and the rights
	// that the denies of the roles taken away were masking.
	var gs []grant
	held := map[string]bool{}
	expired := map[string]bool{} // expired, not yet swept: no longer held
	for _, a := range have {
		if lapsed(a, now) {
			expired[a.RoleID] = true
			continue
		}
		held[a.RoleID] = true
		if !keep[a.RoleID] {
			r, err := tx.GetRole(entityID, a.RoleID)
			if err != nil && !rolegate.IsNotFound(err) {
				return err
			}
			if err == nil && r.Status == rolegate.StatusActive {
				gs = append(gs, deniesOf(r.Permissions)...)
			}
		}
	}
	for _, r := range want {
		if !held[r.ID] {
			gs = append(gs, allowsOf(r.Permissions)...)
		}
	}
	if err := s.mayGive(ctx, entityID, gs); err != nil {
		return err
	}
	var add, remove []rolegate.Rule
	for _, a := range have {
		if !keep[a.RoleID] || expired[a.RoleID] {
			if err := tx.DeleteAssignment(a); err != nil {
				return err
			}
			remove = append(remove, engine.CompileAssignment(a))
		}
	}
	for _, r := range want {
		if held[r.ID] {
			continue
		}
		a := rolegate.Assignment{EntityID: entityID, UserID: userID, RoleID: r.ID, Scope: scope, CreatedAt: now}
		if err := tx.PutAssignment(&a); err != nil {
			return err
		}
		add = append(add, engine.CompileAssignment(a))
	}
	if err := tx.RemoveRules(remove); err != nil {
		return err
	}
	return tx.AddRules(add)
}

// SetScopedRoles makes the roles a user holds inside scope (such as
// "team:42") exactly roleIDs, replacing what it held there; nil means the
// entity's default roles. It returns the roles now held there.
func (s *Service) SetScopedRoles(ctx context.Context, entityID, userID, scope string, roleIDs []string) ([]rolegate.Role, int64, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionUpdate); err != nil {
		return nil, 0, err
	}
	if !ValidScope(scope) {
		return nil, 0, invalidScope("scope")
	}
	for i, id := range roleIDs {
		if id == "" || len(id) > 64 {
			return nil, 0, rolegate.Invalid("invalid_role_id", fmt.Sprintf("role_ids[%d]", i), "role_ids[%d] is not a role id", i)
		}
	}
	var out []rolegate.Role
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		if _, err := getUser(tx, entityID, userID); err != nil {
			return err
		}
		held, err := s.userRoles(tx, entityID, userID, map[string]rolegate.Role{})
		if err != nil {
			return err
		}
		before := scopedRolesDocOf(userID, scope, held)
		ids := roleIDs
		if ids == nil {
			yes := true
			defaults, err := tx.ListRoles(entityID, RoleFilter{Status: rolegate.StatusActive, Default: &yes}, Page{Limit: 100, Sort: "created_at"})
			if err != nil {
				return err
			}
			for _, r := range defaults {
				ids = append(ids, r.ID)
			}
		}
		if err := s.replaceRoles(ctx, tx, entityID, userID, scope, ids, now); err != nil {
			return err
		}
		if out, err = activeRoles(tx, entityID, ids); err != nil {
			return err
		}
		if held, err = s.userRoles(tx, entityID, userID, map[string]rolegate.Role{}); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditTeamRolesSet, AuditObjectAssignment, userID, before, scopedRolesDocOf(userID, scope, held))
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// AssignRole gives a user a role, entity-wide or inside scope. Assigning a
// role the user holds returns the existing assignment.
func (s *Service) AssignRole(ctx context.Context, entityID, userID, roleID, scope string) (rolegate.Assignment, int64, error) {
	return s.AssignRoleUntil(ctx, entityID, userID, roleID, scope, nil)
}

// AssignRoleUntil gives a user a role, entity-wide or inside scope, until
// expiresAt (nil: for good). Assigning a role the user holds in that scope
// sets the existing assignment's expiry to expiresAt.
func (s *Service) AssignRoleUntil(ctx context.Context, entityID, userID, roleID, scope string, expiresAt *time.Time) (rolegate.Assignment, int64, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionUpdate); err != nil {
		return rolegate.Assignment{}, 0, err
	}
	if scope != "" && !ValidScope(scope) {
		return rolegate.Assignment{}, 0, invalidScope("scope")
	}
	if err := s.validExpiry(expiresAt); err != nil {
		return rolegate.Assignment{}, 0, err
	}
	var a rolegate.Assignment
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		if _, err := getUser(tx, entityID, userID); err != nil {
			return err
		}
		r, err := getRole(tx, entityID, roleID)
		if err != nil {
			return err
		}
		if r.Status != rolegate.StatusActive {
			return roleNotFound(roleID)
		}
		if err := s.mayGiveUntil(ctx, entityID, allowsOf(r.Permissions), expiresAt); err != nil {
			return err
		}
		sc := scope
		have, err := tx.ListAssignments(entityID, AssignmentFilter{UserID: userID, RoleID: roleID, Scope: &sc})
		if err != nil {
			return err
		}
		if len(have) > 0 && lapsed(have[0], now) {
			// Expired, not swept yet: the user holds the role no more, so
			// this is a new assignment, not a change of that one.
			if err := tx.DeleteAssignment(have[0]); err != nil {
				return err
			}
			if err := tx.RemoveRules([]rolegate.Rule{engine.CompileAssignment(have[0])}); err != nil {
				return err
			}
			have = nil
		}
		if len(have) > 0 {
			a = have[0]
			if sameExpiry(a.ExpiresAt, expiresAt) {
				return nil
			}
			if sooner(expiresAt, a.ExpiresAt) {
				// Its denies stop masking rights of the user sooner: the
				// same as taking the role away then.
				if err := s.mayGive(ctx, entityID, deniesOf(r.Permissions)); err != nil {
					return err
				}
			}
			// The same assignment, with another expiry: its rule is replaced.
			old := a
			a.ExpiresAt = expiresAt
			if err := tx.PutAssignment(&a); err != nil {
				return err
			}
			if err := tx.RemoveRules([]rolegate.Rule{engine.CompileAssignment(old)}); err != nil {
				return err
			}
			if err := tx.AddRules([]rolegate.Rule{engine.CompileAssignment(a)}); err != nil {
				return err
			}
			return s.audit(ctx, tx, now, entityID, AuditAssignmentUpdate, AuditObjectAssignment, userID, assignmentDocOf(old), assignmentDocOf(a))
		}
		a = rolegate.Assignment{EntityID: entityID, UserID: userID, RoleID: roleID, Scope: scope, CreatedAt: now, ExpiresAt: expiresAt}
		if err := tx.PutAssignment(&a); err != nil {
			return err
		}
		if err := tx.AddRules([]rolegate.Rule{engine.CompileAssignment(a)}); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditAssignmentCreate, AuditObjectAssignment, userID, nil, assignmentDocOf(a))
	})
	return a, rev, err
}

// UnassignRole takes a role from a user, in one scope ("" entity-wide).
func (s *Service) UnassignRole(ctx context.Context, entityID, userID, roleID, scope string) (int64, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionUpdate); err != nil {
		return 0, err
	}
	if scope != "" && !ValidScope(scope) {
		return 0, invalidScope("scope")
	}
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		if _, err := getUser(tx, entityID, userID); err != nil {
			return err
		}
		a := rolegate.Assignment{EntityID: entityID, UserID: userID, RoleID: roleID, Scope: scope}
		sc := scope
		have, err := tx.ListAssignments(entityID, AssignmentFilter{UserID: userID, RoleID: roleID, Scope: &sc})
		if err != nil {
			return err
		}
		notHeld := rolegate.Errorf(rolegate.KindNotFound, "assignment_not_found", "user %q does not hold role %q in that scope", userID, roleID)
		if len(have) > 0 && lapsed(have[0], now) {
			// Expired: gone from every answer already, this one too (the
			// sweep removes it).
			return notHeld
		}
		if len(have) > 0 {
			a = have[0]
			// Its denies stop masking rights of the user.
			r, err := tx.GetRole(entityID, roleID)
			if err != nil && !rolegate.IsNotFound(err) {
				return err
			}
			if err == nil && r.Status == rolegate.StatusActive {
				if err := s.mayGive(ctx, entityID, deniesOf(r.Permissions)); err != nil {
					return err
				}
			}
		}
		if err := tx.DeleteAssignment(a); err != nil {
			if rolegate.IsNotFound(err) {
				return notHeld
			}
			return err
		}
		if err := tx.RemoveRules([]rolegate.Rule{engine.CompileAssignment(a)}); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditAssignmentDelete, AuditObjectAssignment, userID, assignmentDocOf(a), nil)
	})
	return rev, err
}

// UserRoles lists the roles a user holds.
func (s *Service) UserRoles(ctx context.Context, entityID, userID string) ([]rolegate.UserRole, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
		return nil, err
	}
	var out []rolegate.UserRole
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := getUser(tx, entityID, userID); err != nil {
			return err
		}
		var err error
		out, err = s.userRoles(tx, entityID, userID, map[string]rolegate.Role{})
		return err
	})
	return out, err
}
