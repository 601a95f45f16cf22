package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

func roleNotFound(id string) error {
	return rolegate.Errorf(rolegate.KindNotFound, "role_not_found", "role %q not found", id)
}

// RoleInput is a role as a caller writes it. For a PATCH, nil fields stay as
// they are.
type RoleInput struct {
	// NameOptional lets a role be created or replaced without a name, as
	// Dintero's roles may be; unnamed roles are not subject to name uniqueness.
	NameOptional bool
	Name         *string
	Description  *string
	Permissions  *rolegate.Permissions
	Default      *bool
	Scope        *string // only on create
	// MergeRights, when set, makes an update of Permissions write
	// MergeRights(the stored rights, Permissions): a caller that shows only
	// part of the rights (a facade) keeps the rest.
	MergeRights func(stored, written rolegate.Permissions) rolegate.Permissions
}

func (s *Service) validateRoleInput(in RoleInput) error {
	if in.Name != nil && !(in.NameOptional && *in.Name == "") {
		if err := ValidateName("name", *in.Name); err != nil {
			return err
		}
		if err := s.notLikeSystemRole(*in.Name); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := validateText("description", *in.Description, MaxDescriptionLen); err != nil {
			return err
		}
	}
	if in.Permissions != nil {
		if err := ValidatePermissions("permissions", *in.Permissions, s.catalog); err != nil {
			return err
		}
	}
	if in.Scope != nil && *in.Scope != "" && !identRe.MatchString(*in.Scope) {
		return rolegate.Invalid("invalid_scope", "scope", "scope must be an identifier such as account or team")
	}
	return nil
}

// CreateRole stores a new custom role and its rules.
func (s *Service) CreateRole(ctx context.Context, entityID string, in RoleInput) (rolegate.Role, int64, error) {
	in.Name = nfc(in.Name)
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectRole, ActionCreate); err != nil {
		return rolegate.Role{}, 0, err
	}
	if in.Name == nil && !in.NameOptional {
		return rolegate.Role{}, 0, rolegate.Invalid("missing_field", "name", "name is required")
	}
	if err := s.validateRoleInput(in); err != nil {
		return rolegate.Role{}, 0, err
	}
	if in.Permissions != nil {
		if err := s.mayGive(ctx, entityID, allowsOf(*in.Permissions)); err != nil {
			return rolegate.Role{}, 0, err
		}
	}
	actor := auth.ActorFrom(ctx).ID
	r := rolegate.Role{ID: uuid.NewString(), EntityID: entityID, RoleType: rolegate.RoleCustom,
		Scope: rolegate.ScopeAccount, Status: rolegate.StatusActive, Version: 1, CreatedBy: actor, UpdatedBy: actor}
	if in.Name != nil {
		r.Name = *in.Name
	}
	if in.Description != nil {
		r.Description = *in.Description
	}
	if in.Permissions != nil {
		r.Permissions = *in.Permissions
	}
	if in.Default != nil {
		r.Default = *in.Default
	}
	if in.Scope != nil && *in.Scope != "" {
		r.Scope = *in.Scope
	}
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		r.CreatedAt, r.UpdatedAt = now, now
		if err := tx.InsertRole(&r); err != nil {
			if errors.Is(err, rolegate.ErrDuplicate) {
				return nameTaken(r.Name)
			}
			return err
		}
		if err := putConditions(tx, entityID, r.Permissions); err != nil {
			return err
		}
		if err := tx.AddRules(engine.Compile(r)); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditRoleCreate, AuditObjectRole, r.ID, nil, roleDocOf(r))
	})
	if err != nil {
		return rolegate.Role{}, 0, err
	}
	return r, rev, nil
}

// notLikeSystemRole refuses a name that reads as a system role's without
// being it ("Admin", "ADMIN", "admin " or "ａｄｍｉｎ" beside "admin"): an
// admin choosing among roles must not take a custom one for the system one.
// The system role's own name passes here (the store keeps names unique among
// active roles). Names are compared after NFKC, case folding and trimming of
// spaces; look-alikes from other scripts are not caught.
func (s *Service) notLikeSystemRole(name string) error {
	key := nameLikeness(name)
	for _, t := range s.templates {
		if name != t.Name && key == nameLikeness(t.Name) {
			return nameTaken(name, "too like the system role "+strconv.Quote(t.Name))
		}
	}
	return nil
}

func nameLikeness(name string) string {
	return cases.Fold().String(strings.TrimSpace(norm.NFKC.String(name)))
}

func nameTaken(name string, why ...string) error {
	e := rolegate.Errorf(rolegate.KindConflict, "role_name_taken", "a role named %q already exists", name)
	msg := "taken by another active role"
	if len(why) > 0 {
		e.Message = fmt.Sprintf("the name %q is %s", name, why[0])
		msg = why[0]
	}
	e.Details = []rolegate.Detail{{Field: "name", Message: msg, Value: name}}
	return e
}

// GetRole returns a role of the entity, also a deleted one.
func (s *Service) GetRole(ctx context.Context, entityID, roleID string) (rolegate.Role, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectRole, ActionRead); err != nil {
		return rolegate.Role{}, err
	}
	var r rolegate.Role
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		r, err = getRole(tx, entityID, roleID)
		return err
	})
	return r, err
}

func getRole(tx Tx, entityID, roleID string) (rolegate.Role, error) {
	r, err := tx.GetRole(entityID, roleID)
	if rolegate.IsNotFound(err) {
		return r, roleNotFound(roleID)
	}
	return r, err
}

// ListRoles returns one page of the entity's roles. An unknown entity is 404.
func (s *Service) ListRoles(ctx context.Context, entityID string, f RoleFilter, p Page) ([]rolegate.Role, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectRole, ActionRead); err != nil {
		return nil, err
	}
	// Names are stored in NFC: a name asked for in another spelling of the
	// same characters finds its role.
	f.Name = NormalizeName(f.Name)
	var out []rolegate.Role
	err := s.store.View(ctx, func(tx Tx) error {
		if err := entityExists(tx, entityID); err != nil {
			return err
		}
		var err error
		out, err = tx.ListRoles(entityID, f, p)
		return err
	})
	return out, err
}

// checkVersion answers 412 when the caller's If-Match is stale. 0 means no
// If-Match.
func checkVersion(r rolegate.Role, ifMatch int64) error {
	if ifMatch != 0 && ifMatch != r.Version {
		return rolegate.Errorf(rolegate.KindPrecondition, "version_mismatch", "role is at version %d, not %d", r.Version, ifMatch)
	}
	return nil
}

// lastDefault reports whether r is the entity's only active, entity-wide
// default role.
func lastDefault(tx Tx, r rolegate.Role) (bool, error) {
	if !r.Default || r.Status != rolegate.StatusActive || r.Scope != rolegate.ScopeAccount {
		return false, nil
	}
	yes := true
	defaults, err := tx.ListRoles(r.EntityID, RoleFilter{Status: rolegate.StatusActive, Default: &yes, Scope: rolegate.ScopeAccount}, Page{Limit: 2, Sort: "created_at"})
	if err != nil {
		return false, err
	}
	return len(defaults) <= 1, nil
}

// UpdateMode is what UpdateRole does with the fields an input leaves out.
type UpdateMode int

const (
	Patch   UpdateMode = iota // they stay as they are (PATCH)
	Replace                   // they are reset to their zero values (PUT)
)

// UpdateRole changes a custom role: fields set in the input replace the
// role's (permissions as a whole); mode says what happens to the others.
// ifMatch is the If-Match version, 0 for none.
func (s *Service) UpdateRole(ctx context.Context, entityID, roleID string, in RoleInput, mode UpdateMode, ifMatch int64) (rolegate.Role, int64, error) {
	in.Name = nfc(in.Name)
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectRole, ActionUpdate); err != nil {
		return rolegate.Role{}, 0, err
	}
	if mode == Replace && in.Name == nil && !in.NameOptional {
		return rolegate.Role{}, 0, rolegate.Invalid("missing_field", "name", "name is required")
	}
	if in.Scope != nil {
		return rolegate.Role{}, 0, rolegate.Invalid("immutable_field", "scope", "scope can only be set when the role is created")
	}
	if err := s.validateRoleInput(in); err != nil {
		return rolegate.Role{}, 0, err
	}
	var r rolegate.Role
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		var err error
		if r, err = getRole(tx, entityID, roleID); err != nil {
			return err
		}
		if r.Status == rolegate.StatusDeleted {
			return rolegate.Errorf(rolegate.KindConflict, "role_deleted", "role %q is deleted", roleID)
		}
		if err := checkVersion(r, ifMatch); err != nil {
			return err
		}
		old := r
		if mode == Replace {
			r.Name, r.Description, r.Permissions, r.Default = "", "", rolegate.Permissions{}, false
		}
		if in.Name != nil {
			r.Name = *in.Name
		}
		if in.Description != nil {
			r.Description = *in.Description
		}
		if in.Permissions != nil {
			r.Permissions = *in.Permissions
			if in.MergeRights != nil {
				r.Permissions = in.MergeRights(old.Permissions, *in.Permissions)
				if err := ValidatePermissions("permissions", r.Permissions, s.catalog); err != nil {
					return err
				}
			}
		}
		if in.Default != nil {
			r.Default = *in.Default
		}
		// A system role comes from a template: its name, description and
		// rights stay as they are; only whether it is a default role moves.
		// Writing back the values it has is no change.
		if old.RoleType == rolegate.RoleSystem && (r.Name != old.Name || r.Description != old.Description ||
			!samePermissions(r.Permissions, old.Permissions)) {
			return rolegate.Errorf(rolegate.KindForbidden, "system_role", "role %q is a system role: its name, description and rights cannot be changed", old.Name)
		}
		if old.RoleType == rolegate.RoleSystem {
			r.Permissions = old.Permissions // the same rights, in the template's order
		}
		// What the edit gives the role's holders, and new users when the
		// role is (or stops being) a default role.
		gs := gained(old.Permissions, r.Permissions)
		if r.Default && !old.Default {
			gs = append(gs, allowsOf(r.Permissions)...)
		}
		if old.Default && !r.Default {
			gs = append(gs, deniesOf(old.Permissions)...)
		}
		if err := s.mayGive(ctx, entityID, gs); err != nil {
			return err
		}
		if old.Default && !r.Default {
			last, err := lastDefault(tx, old)
			if err != nil {
				return err
			}
			if last {
				return rolegate.Errorf(rolegate.KindConflict, "last_default_role", "role %q is the entity's last default role", old.Name)
			}
		}
		r.Version++
		r.UpdatedAt, r.UpdatedBy = now, auth.ActorFrom(ctx).ID
		if err := tx.UpdateRole(&r); err != nil {
			if errors.Is(err, rolegate.ErrDuplicate) {
				return nameTaken(r.Name)
			}
			return err
		}
		if err := putConditions(tx, entityID, r.Permissions); err != nil {
			return err
		}
		if err := tx.ReplaceSubjectRules(entityID, engine.RoleSubject(r.ID), engine.Compile(r)); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditRoleUpdate, AuditObjectRole, r.ID, roleDocOf(old), roleDocOf(r))
	})
	if err != nil {
		return rolegate.Role{}, 0, err
	}
	return r, rev, nil
}

// DeleteRole soft-deletes a custom role and removes its rules. While users
// hold it, it is 409 role_in_use unless force, which removes the assignments.
func (s *Service) DeleteRole(ctx context.Context, entityID, roleID string, force bool, ifMatch int64) (rolegate.Role, int64, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectRole, ActionDelete); err != nil {
		return rolegate.Role{}, 0, err
	}
	var r rolegate.Role
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		var err error
		if r, err = getRole(tx, entityID, roleID); err != nil {
			return err
		}
		if r.Status == rolegate.StatusDeleted {
			return roleNotFound(roleID)
		}
		if r.RoleType == rolegate.RoleSystem {
			return rolegate.Errorf(rolegate.KindForbidden, "system_role", "role %q is a system role and cannot be deleted", r.Name)
		}
		if err := checkVersion(r, ifMatch); err != nil {
			return err
		}
		last, err := lastDefault(tx, r)
		if err != nil {
			return err
		}
		if last {
			return rolegate.Errorf(rolegate.KindConflict, "last_default_role", "role %q is the entity's last default role", r.Name)
		}
		held, err := tx.ListAssignments(entityID, AssignmentFilter{RoleID: roleID})
		if err != nil {
			return err
		}
		// An expired assignment (not swept yet) holds the role no more: it
		// blocks nothing, and goes with the role.
		live := 0
		for _, a := range held {
			if !lapsed(a, now) {
				live++
			}
		}
		if live > 0 && !force {
			e := rolegate.Errorf(rolegate.KindConflict, "role_in_use", "role %q is held by %d assignment(s); remove them or delete with force=true", r.Name, live)
			return e
		}
		if live > 0 || r.Default {
			// Its denies stop masking rights of its holders (and of new users).
			if err := s.mayGive(ctx, entityID, deniesOf(r.Permissions)); err != nil {
				return err
			}
		}
		var grules []rolegate.Rule
		for _, a := range held {
			if err := tx.DeleteAssignment(a); err != nil {
				return err
			}
			grules = append(grules, engine.CompileAssignment(a))
		}
		if err := tx.RemoveRules(grules); err != nil {
			return err
		}
		oldRules, before := engine.Compile(r), roleDocOf(r)
		r.Status, r.Version = rolegate.StatusDeleted, r.Version+1
		actor := auth.ActorFrom(ctx).ID
		r.DeletedAt, r.DeletedBy, r.UpdatedAt, r.UpdatedBy = &now, actor, now, actor
		if err := tx.UpdateRole(&r); err != nil {
			return err
		}
		if err := tx.RemoveRules(oldRules); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditRoleDelete, AuditObjectRole, r.ID, before, roleDocOf(r))
	})
	if err != nil {
		return rolegate.Role{}, 0, err
	}
	return r, rev, nil
}

// ListRoleUsers returns one page of the users holding a role (in any scope);
// an expired assignment no longer counts, even before the sweep removes it.
func (s *Service) ListRoleUsers(ctx context.Context, entityID, roleID string, p Page) ([]rolegate.User, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
		return nil, err
	}
	var out []rolegate.User
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := getRole(tx, entityID, roleID); err != nil {
			return err
		}
		held, err := tx.ListAssignments(entityID, AssignmentFilter{RoleID: roleID})
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(held))
		seen := map[string]bool{}
		now := s.clock()
		for _, a := range held {
			if lapsed(a, now) {
				continue // expired: held no more, even before the sweep
			}
			if !seen[a.UserID] {
				seen[a.UserID] = true
				ids = append(ids, a.UserID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		out, err = tx.ListUsers(entityID, UserFilter{IDs: ids}, p)
		return err
	})
	return out, err
}

// samePermissions reports whether two sets hold the same rights, with the
// same conditions, in any order.
func samePermissions(a, b rolegate.Permissions) bool {
	set := func(p rolegate.Permissions) map[[2]string]rolegate.ActionPermission {
		out := map[[2]string]rolegate.ActionPermission{}
		for _, o := range p.Objects {
			for _, act := range o.Actions {
				out[[2]string{o.ObjectType, act.ActionName}] = rolegate.ActionPermission{Permission: act.Permission, Condition: act.Condition}
			}
		}
		return out
	}
	return maps.Equal(set(a), set(b))
}
