package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

func userNotFound(id string) error {
	return rolegate.Errorf(rolegate.KindNotFound, "user_not_found", "user %q not found", id)
}

// UserInput creates or changes a user. For a change, nil fields stay.
// RoleIDs replaces the user's entity-wide roles; on create, nil means the
// entity's default roles.
type UserInput struct {
	ID          string
	Email       *string
	Name        *string
	RoleIDs     *[]string
	Permissions *rolegate.Permissions
	// Attributes, when set, replace the user's attributes whole (empty:
	// none); checked by condition.Normalize.
	Attributes *map[string]any
	// MergeRights, when set, makes an update of Permissions write
	// MergeRights(the stored rights, Permissions): a caller that shows only
	// part of the rights (a facade) keeps the rest.
	MergeRights func(stored, written rolegate.Permissions) rolegate.Permissions
}

// validateUserInput checks a user's fields, and normalizes its attributes
// (condition.Normalize; 422 invalid_attributes) in place.
func (s *Service) validateUserInput(in *UserInput) error {
	if in.Email != nil {
		if err := validateText("email", *in.Email, MaxEmailLen); err != nil {
			return err
		}
		if *in.Email != "" && (!strings.Contains(*in.Email, "@") || strings.ContainsAny(*in.Email, " \t\n")) {
			return rolegate.Invalid("invalid_email", "email", "email must be an address such as ada@example.com")
		}
	}
	if in.Name != nil {
		if err := validateLabel("name", *in.Name, "invalid_name"); err != nil {
			return err
		}
	}
	if in.RoleIDs != nil {
		for i, id := range *in.RoleIDs {
			if id == "" || len(id) > 64 {
				return rolegate.Invalid("invalid_role_id", fmt.Sprintf("role_ids[%d]", i), "role_ids[%d] is not a role id", i)
			}
		}
	}
	if in.Permissions != nil {
		if err := ValidatePermissions("permissions", *in.Permissions, s.catalog); err != nil {
			return err
		}
	}
	if in.Attributes != nil {
		attrs, err := normalizeAttributes("attributes", *in.Attributes)
		if err != nil {
			return err
		}
		// Kept in every instance's memory for every user: bounded whole,
		// not only by the body that carried them.
		if enc, err := EncodeAttributes(attrs); err == nil && len(enc) > MaxUserAttributesBytes {
			msg := fmt.Sprintf("the attributes take %d bytes as JSON; at most %d", len(enc), MaxUserAttributesBytes)
			return &rolegate.Error{Kind: rolegate.KindInvalid, Code: "invalid_attributes", Message: "attributes: " + msg,
				Details: []rolegate.Detail{{Field: "attributes", Message: msg}}}
		}
		in.Attributes = &attrs
	}
	return nil
}

// MaxUserAttributesBytes bounds a user's attributes as stored (JSON): what a
// condition needs of a user is a few limits and labels, and every instance
// keeps them in memory for every user that has some.
const MaxUserAttributesBytes = 16 << 10

// activeRoles resolves role ids to the entity's active roles; unknown or
// deleted ones are 422 naming them.
func activeRoles(tx Tx, entityID string, ids []string) ([]rolegate.Role, error) {
	var out []rolegate.Role
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		r, err := tx.GetRole(entityID, id)
		if err != nil && !rolegate.IsNotFound(err) {
			return nil, err
		}
		if err != nil || r.Status != rolegate.StatusActive {
			return nil, rolegate.Invalid("unknown_role", fmt.Sprintf("role_ids[%d]", i), "role %q does not exist in this entity", id)
		}
		out = append(out, r)
	}
	return out, nil
}

// CreateUser stores a user with its roles (the default roles when none are
// named) and its own rights.
func (s *Service) CreateUser(ctx context.Context, entityID string, in UserInput) (rolegate.User, int64, error) {
	in.Name = nfc(in.Name)
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionCreate); err != nil {
		return rolegate.User{}, 0, err
	}
	if in.ID == "" {
		in.ID = uuid.NewString()
	}
	if !rolegate.ValidUserID(in.ID) {
		return rolegate.User{}, 0, rolegate.Invalid("invalid_user_id", "id", "id must be 1-%d printable ASCII characters without spaces, not . or ..", rolegate.MaxUserIDLen)
	}
	if err := s.validateUserInput(&in); err != nil {
		return rolegate.User{}, 0, err
	}
	u := rolegate.User{ID: in.ID, EntityID: entityID, CreatedBy: auth.ActorFrom(ctx).ID}
	if in.Attributes != nil {
		u.Attributes = *in.Attributes
	}
	if in.Email != nil {
		u.Email = *in.Email
	}
	if in.Name != nil {
		u.Name = *in.Name
	}
	if in.Permissions != nil {
		u.Permissions = *in.Permissions
	}
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		u.CreatedAt, u.UpdatedAt = now, now
		var roles []rolegate.Role
		var err error
		if in.RoleIDs != nil {
			roles, err = activeRoles(tx, entityID, *in.RoleIDs)
		} else {
			yes := true
			roles, err = tx.ListRoles(entityID, RoleFilter{Status: rolegate.StatusActive, Default: &yes}, Page{Limit: 100, Sort: "created_at"})
		}
		if err != nil {
			return err
		}
		if err := s.mayGive(ctx, entityID, append(allowsOf(u.Permissions), rolesGrants(roles...)...)); err != nil {
			return err
		}
		if err := tx.InsertUser(&u); err != nil {
			if errors.Is(err, rolegate.ErrDuplicate) {
				return rolegate.Errorf(rolegate.KindConflict, "user_exists", "user %q already exists", u.ID)
			}
			return err
		}
		rules := engine.CompileUser(u)
		for _, r := range roles {
			a := rolegate.Assignment{EntityID: entityID, UserID: u.ID, RoleID: r.ID, CreatedAt: now}
			if err := tx.PutAssignment(&a); err != nil {
				return err
			}
			rules = append(rules, engine.CompileAssignment(a))
			u.Roles = append(u.Roles, rolegate.UserRole{Role: r})
		}
		if err := putConditions(tx, entityID, u.Permissions); err != nil {
			return err
		}
		if err := tx.AddRules(rules); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditUserCreate, AuditObjectUser, u.ID, nil, userDocOf(u))
	})
	if err != nil {
		return rolegate.User{}, 0, err
	}
	return u, rev, nil
}

// GetUser returns a user with its roles.
func (s *Service) GetUser(ctx context.Context, entityID, userID string) (rolegate.User, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
		return rolegate.User{}, err
	}
	var u rolegate.User
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if u, err = getUser(tx, entityID, userID); err != nil {
			return err
		}
		u.Roles, err = s.userRoles(tx, entityID, userID, map[string]rolegate.Role{})
		return err
	})
	return u, err
}

func getUser(tx Tx, entityID, userID string) (rolegate.User, error) {
	u, err := tx.GetUser(entityID, userID)
	if rolegate.IsNotFound(err) {
		return u, userNotFound(userID)
	}
	return u, err
}

// userRoles lists the roles a user holds, entity-wide first, then by scope;
// an expired assignment no longer shows, even before the sweep removes it.
func (s *Service) userRoles(tx Tx, entityID, userID string, cache map[string]rolegate.Role) ([]rolegate.UserRole, error) {
	held, err := tx.ListAssignments(entityID, AssignmentFilter{UserID: userID})
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []rolegate.UserRole{}
	for _, a := range held {
		if a.ExpiresAt != nil && !now.Before(*a.ExpiresAt) {
			continue
		}
		r, ok := cache[a.RoleID]
		if !ok {
			if r, err = tx.GetRole(entityID, a.RoleID); err != nil {
				if rolegate.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			cache[a.RoleID] = r
		}
		out = append(out, rolegate.UserRole{Role: r, Scope: a.Scope, ExpiresAt: a.ExpiresAt})
	}
	sortUserRoles(out)
	return out, nil
}

// ListUsers returns one page of the entity's users with their roles.
func (s *Service) ListUsers(ctx context.Context, entityID string, f UserFilter, p Page) ([]rolegate.User, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
		return nil, err
	}
	var out []rolegate.User
	err := s.store.View(ctx, func(tx Tx) error {
		if err := entityExists(tx, entityID); err != nil {
			return err
		}
		var err error
		if out, err = tx.ListUsers(entityID, f, p); err != nil {
			return err
		}
		cache := map[string]rolegate.Role{}
		for i := range out {
			if out[i].Roles, err = s.userRoles(tx, entityID, out[i].ID, cache); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// UpdateUser changes a user's fields; RoleIDs replaces its entity-wide roles
// (scoped assignments stay).
func (s *Service) UpdateUser(ctx context.Context, entityID, userID string, in UserInput) (rolegate.User, int64, error) {
	in.Name = nfc(in.Name)
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionUpdate); err != nil {
		return rolegate.User{}, 0, err
	}
	if err := s.validateUserInput(&in); err != nil {
		return rolegate.User{}, 0, err
	}
	var u rolegate.User
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		var err error
		if u, err = getUser(tx, entityID, userID); err != nil {
			return err
		}
		if u.Roles, err = s.userRoles(tx, entityID, userID, map[string]rolegate.Role{}); err != nil {
			return err
		}
		before := userDocOf(u)
		if in.Email != nil {
			u.Email = *in.Email
		}
		if in.Name != nil {
			u.Name = *in.Name
		}
		if in.Attributes != nil {
			u.Attributes = *in.Attributes
		}
		if in.Permissions != nil {
			next := *in.Permissions
			if in.MergeRights != nil {
				next = in.MergeRights(u.Permissions, *in.Permissions)
				if err := ValidatePermissions("permissions", next, s.catalog); err != nil {
					return err
				}
			}
			if err := s.mayGive(ctx, entityID, gained(u.Permissions, next)); err != nil {
				return err
			}
			u.Permissions = next
			if err := putConditions(tx, entityID, u.Permissions); err != nil {
				return err
			}
			if err := tx.ReplaceSubjectRules(entityID, engine.UserSubject(u.ID), engine.CompileUser(u)); err != nil {
				return err
			}
		}
		u.UpdatedAt = now
		if err := tx.UpdateUser(&u); err != nil {
			return err
		}
		if in.RoleIDs != nil {
			if err := s.replaceRoles(ctx, tx, entityID, userID, "", *in.RoleIDs, now); err != nil {
				return err
			}
		}
		if u.Roles, err = s.userRoles(tx, entityID, userID, map[string]rolegate.Role{}); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditUserUpdate, AuditObjectUser, u.ID, before, userDocOf(u))
	})
	if err != nil {
		return rolegate.User{}, 0, err
	}
	return u, rev, nil
}

// DeleteUser removes a user, its assignments and its rules, and returns the
// user as it was, with the roles it held.
func (s *Service) DeleteUser(ctx context.Context, entityID, userID string) (rolegate.User, int64, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionDelete); err != nil {
		return rolegate.User{}, 0, err
	}
	var u rolegate.User
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		var err error
		if u, err = getUser(tx, entityID, userID); err != nil {
			return err
		}
		if u.Roles, err = s.userRoles(tx, entityID, userID, map[string]rolegate.Role{}); err != nil {
			return err
		}
		held, err := tx.ListAssignments(entityID, AssignmentFilter{UserID: userID})
		if err != nil {
			return err
		}
		rules := engine.CompileUser(u)
		for _, a := range held {
			if err := tx.DeleteAssignment(a); err != nil {
				return err
			}
			rules = append(rules, engine.CompileAssignment(a))
		}
		if err := tx.RemoveRules(rules); err != nil {
			return err
		}
		if err := tx.DeleteUser(entityID, userID); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditUserDelete, AuditObjectUser, u.ID, userDocOf(u), nil)
	})
	if err != nil {
		return rolegate.User{}, 0, err
	}
	return u, rev, nil
}

func sortUserRoles(rs []rolegate.UserRole) {
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Scope != rs[j].Scope {
			return rs[i].Scope < rs[j].Scope
		}
		if rs[i].Role.Name != rs[j].Role.Name {
			return rs[i].Role.Name < rs[j].Role.Name
		}
		return rs[i].Role.ID < rs[j].Role.ID
	})
}
