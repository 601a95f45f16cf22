package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// The bulk import of users: up to MaxImportUsers users in one transaction
// and one revision, all or nothing. Each user is upserted: a new one is
// created, an existing one gets its email and name replaced and its roles
// replaced as a whole (the roles it holds afterwards, in every scope, are
// exactly those the import names). An existing user the import leaves as it
// was is not written and counts as unchanged.

// Limits of one import.
const (
	MaxImportUsers   = 1000 // users in one request
	MaxImportRoleIDs = 100  // role ids in one user's role_ids, and in each of its scopes
	MaxImportScopes  = 100  // scoped_roles entries of one user
	maxImportErrors  = 20   // problems reported in an error's details
	importChunk      = 500  // ids in one IN (...) read
)

// ImportUser is one user of an import.
type ImportUser struct {
	ID    string
	Email string
	Name  string
	// Attributes are the user's attributes, replaced whole as the rest of
	// the user is: nil or empty leaves it none.
	Attributes map[string]any
	// RoleIDs are the user's entity-wide roles; nil means the entity's
	// default roles (as for a user created one at a time), empty means none.
	RoleIDs     *[]string
	ScopedRoles []ScopedRoles
}

// ScopedRoles are the roles a user holds inside one scope such as "team:42".
type ScopedRoles struct {
	Scope   string
	RoleIDs []string
}

// ImportResult counts what an import did; Revision is the entity's revision
// after it.
type ImportResult struct {
	Created   int
	Updated   int
	Unchanged int
	Revision  int64
}

// importErrors collects an import's problems: how many, and the first
// maxImportErrors, each naming its field as users[i].field.
type importErrors struct {
	n       int
	code    string
	message string
	details []rolegate.Detail
}

func (e *importErrors) add(field, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if e.n == 0 {
		e.code, e.message = code, field+": "+msg
	}
	e.n++
	if len(e.details) < maxImportErrors {
		e.details = append(e.details, rolegate.Detail{Field: field, Message: msg})
	}
}

// wrap adds a validation error of one user's field, naming it under prefix.
func (e *importErrors) wrap(prefix string, err error) {
	if err == nil {
		return
	}
	ae := rolegate.AsError(err)
	field := ""
	if len(ae.Details) > 0 {
		field = ae.Details[0].Field
	}
	e.add(prefix+field, ae.Code, "%s", ae.Message)
}

func (e *importErrors) err() error {
	if e.n == 0 {
		return nil
	}
	msg := e.message
	if e.n > 1 {
		msg = fmt.Sprintf("%s (and %d more problems; details name the first %d)", msg, e.n-1, len(e.details))
	}
	return &rolegate.Error{Kind: rolegate.KindInvalid, Code: e.code, Message: "nothing was imported: " + msg, Details: e.details}
}

// validateImport checks everything that needs no database: the number of
// users, each user's fields, and ids used twice.
func (s *Service) validateImport(users []ImportUser) error {
	if len(users) == 0 {
		return rolegate.Invalid("invalid_users", "users", "users must hold 1 to %d users", MaxImportUsers)
	}
	if len(users) > MaxImportUsers {
		return rolegate.Invalid("too_many_users", "users", "an import holds at most %d users, not %d; split it", MaxImportUsers, len(users))
	}
	var errs importErrors
	seen := make(map[string]int, len(users))
	for i, u := range users {
		p := fmt.Sprintf("users[%d].", i)
		switch {
		case u.ID == "":
			errs.add(p+"id", "missing_field", "id is required")
		case !rolegate.ValidUserID(u.ID):
			errs.add(p+"id", "invalid_user_id", "id must be 1-%d printable ASCII characters without spaces, not . or ..", rolegate.MaxUserIDLen)
		default:
			if j, dup := seen[u.ID]; dup {
				errs.add(p+"id", "duplicate_user", "user %q is also users[%d]", u.ID, j)
			} else {
				seen[u.ID] = i
			}
		}
		errs.wrap(p, s.validateUserInput(&UserInput{Email: &u.Email}))
		users[i].Name = NormalizeName(u.Name) // stored in NFC, as every name
		errs.wrap(p, s.validateUserInput(&UserInput{Name: &users[i].Name}))
		if u.Attributes != nil {
			in := UserInput{Attributes: &u.Attributes}
			if err := s.validateUserInput(&in); err != nil {
				errs.wrap(p, err)
			} else {
				users[i].Attributes = *in.Attributes
			}
		}
		if u.RoleIDs != nil {
			if len(*u.RoleIDs) > MaxImportRoleIDs {
				errs.add(p+"role_ids", "too_many_roles", "role_ids may name at most %d roles", MaxImportRoleIDs)
			} else {
				errs.wrap(p, s.validateUserInput(&UserInput{RoleIDs: u.RoleIDs}))
			}
		}
		if len(u.ScopedRoles) > MaxImportScopes {
			errs.add(p+"scoped_roles", "too_many_scopes", "scoped_roles may hold at most %d scopes", MaxImportScopes)
			continue
		}
		scopes := map[string]int{}
		for k, sr := range u.ScopedRoles {
			q := fmt.Sprintf("%sscoped_roles[%d].", p, k)
			if !ValidScope(sr.Scope) {
				errs.add(q+"scope", "invalid_scope", "scope must be 1-128 characters of A-Za-z0-9._:- such as team:42, not . or ..")
			} else if j, dup := scopes[sr.Scope]; dup {
				errs.add(q+"scope", "duplicate_scope", "scope %q is also scoped_roles[%d]", sr.Scope, j)
			} else {
				scopes[sr.Scope] = k
			}
			if len(sr.RoleIDs) > MaxImportRoleIDs {
				errs.add(q+"role_ids", "too_many_roles", "role_ids may name at most %d roles", MaxImportRoleIDs)
				continue
			}
			ids := sr.RoleIDs
			errs.wrap(q, s.validateUserInput(&UserInput{RoleIDs: &ids}))
		}
	}
	return errs.err()
}

// ImportUsers creates or replaces up to MaxImportUsers users of an entity
// with their roles, in one transaction: on any problem nothing is written
// (422 naming users[i].field, the first maxImportErrors problems). The caller
// needs the rights to create and to update users, and, as for any
// assignment, must hold the rights of every role it gives. One revision, one
// audit event per created (user.create) or changed (user.update) user.
func (s *Service) ImportUsers(ctx context.Context, entityID string, users []ImportUser) (ImportResult, error) {
	if err := s.AuthorizeImport(ctx, entityID); err != nil {
		return ImportResult{}, err
	}
	if err := s.validateImport(users); err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	rev, err := s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		res = ImportResult{}
		return s.importUsers(ctx, tx, entityID, users, now, &res)
	})
	if err != nil {
		return ImportResult{}, err
	}
	res.Revision = rev
	return res, nil
}

// AuthorizeImport refuses a caller that may not import users into the
// entity, as ImportUsers does first: the transport asks it before it reads
// an import's body (up to 8 MiB), so that a refused caller costs nothing.
func (s *Service) AuthorizeImport(ctx context.Context, entityID string) error {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionCreate); err != nil {
		return err
	}
	return s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionUpdate)
}

// holding is one assignment as the import compares them.
type holding struct{ roleID, scope string }

func inChunks(ids []string, n int, fn func([]string) error) error {
	for len(ids) > 0 {
		k := min(n, len(ids))
		if err := fn(ids[:k]); err != nil {
			return err
		}
		ids = ids[k:]
	}
	return nil
}

func (s *Service) importUsers(ctx context.Context, tx Tx, entityID string, users []ImportUser, now time.Time, res *ImportResult) error {
	// Every role the import names, in one read per chunk of ids.
	roles := map[string]rolegate.Role{}
	var named []string
	for _, u := range users {
		if u.RoleIDs != nil {
			named = append(named, *u.RoleIDs...)
		}
		for _, sr := range u.ScopedRoles {
			named = append(named, sr.RoleIDs...)
		}
	}
	if err := loadRoles(tx, entityID, named, roles); err != nil {
		return err
	}
	var errs importErrors
	unknown := func(field, id string) {
		if r, ok := roles[id]; !ok || r.Status != rolegate.StatusActive {
			errs.add(field, "unknown_role", "role %q does not exist in this entity", id)
		}
	}
	needDefaults := false
	for i, u := range users {
		if u.RoleIDs == nil {
			needDefaults = true
		} else {
			for j, id := range *u.RoleIDs {
				unknown(fmt.Sprintf("users[%d].role_ids[%d]", i, j), id)
			}
		}
		for k, sr := range u.ScopedRoles {
			for j, id := range sr.RoleIDs {
				unknown(fmt.Sprintf("users[%d].scoped_roles[%d].role_ids[%d]", i, k, j), id)
			}
		}
	}
	if err := errs.err(); err != nil {
		return err
	}
	var defaults []rolegate.Role
	if needDefaults {
		yes := true
		var err error
		if defaults, err = tx.ListRoles(entityID, RoleFilter{Status: rolegate.StatusActive, Default: &yes}, Page{Limit: 100, Sort: "created_at"}); err != nil {
			return err
		}
		for _, r := range defaults {
			roles[r.ID] = r
		}
	}

	// The users that exist, and what they hold.
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	existing := map[string]rolegate.User{}
	holds := map[string][]rolegate.Assignment{}
	err := inChunks(ids, importChunk, func(part []string) error {
		us, err := tx.ListUsers(entityID, UserFilter{IDs: part}, Page{Sort: "id"})
		if err != nil {
			return err
		}
		for _, u := range us {
			existing[u.ID] = u
		}
		as, err := tx.ListAssignments(entityID, AssignmentFilter{UserIDs: part})
		if err != nil {
			return err
		}
		for _, a := range as {
			holds[a.UserID] = append(holds[a.UserID], a)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var heldIDs []string
	for _, as := range holds {
		for _, a := range as {
			if _, ok := roles[a.RoleID]; !ok {
				heldIDs = append(heldIDs, a.RoleID)
			}
		}
	}
	if err := loadRoles(tx, entityID, heldIDs, roles); err != nil {
		return err
	}

	actor := auth.ActorFrom(ctx).ID
	var (
		created, updated []rolegate.User
		added, removed   []rolegate.Assignment
		give             []rolegate.Role
		given            = map[string]bool{}
		events           []AuditEvent
	)
	for _, in := range users {
		var want []holding
		wanted := map[holding]bool{}
		put := func(roleID, scope string) {
			h := holding{roleID, scope}
			if !wanted[h] {
				wanted[h] = true
				want = append(want, h)
			}
		}
		if in.RoleIDs == nil {
			for _, r := range defaults {
				put(r.ID, "")
			}
		} else {
			for _, id := range *in.RoleIDs {
				put(id, "")
			}
		}
		for _, sr := range in.ScopedRoles {
			for _, id := range sr.RoleIDs {
				put(id, sr.Scope)
			}
		}
		old, exists := existing[in.ID]
		had := map[holding]bool{}
		for _, a := range holds[in.ID] {
			if !lapsed(a, now) { // an expired one (not yet swept) is held no more
				had[holding{a.RoleID, a.Scope}] = true
			}
		}
		var add, remove []rolegate.Assignment
		for _, h := range want {
			if !had[h] {
				add = append(add, rolegate.Assignment{EntityID: entityID, UserID: in.ID, RoleID: h.roleID, Scope: h.scope, CreatedAt: now})
			}
		}
		for _, a := range holds[in.ID] {
			if !wanted[holding{a.RoleID, a.Scope}] || lapsed(a, now) {
				remove = append(remove, a)
			}
		}
		if exists && old.Email == in.Email && old.Name == in.Name && sameAttributes(old.Attributes, in.Attributes) && len(add) == 0 && len(remove) == 0 {
			res.Unchanged++
			continue
		}
		for _, a := range add {
			if !given[a.RoleID] {
				given[a.RoleID] = true
				give = append(give, roles[a.RoleID])
			}
		}
		u := rolegate.User{ID: in.ID, EntityID: entityID, CreatedAt: now, CreatedBy: actor}
		var before any
		if exists {
			u = old
			u.Roles = userRolesOf(holds[in.ID], roles)
			before = userDocOf(u)
		}
		u.Email, u.Name, u.Attributes, u.UpdatedAt = in.Email, in.Name, in.Attributes, now
		u.Roles = nil
		for _, h := range want {
			u.Roles = append(u.Roles, rolegate.UserRole{Role: roles[h.roleID], Scope: h.scope})
		}
		sortUserRoles(u.Roles)
		action := AuditUserCreate
		if exists {
			action = AuditUserUpdate
			updated = append(updated, u)
		} else {
			created = append(created, u)
		}
		ev, err := newAuditEvent(ctx, now, entityID, action, AuditObjectUser, u.ID, before, userDocOf(u))
		if err != nil {
			return err
		}
		events = append(events, ev)
		added = append(added, add...)
		removed = append(removed, remove...)
	}
	// Nobody gives a right they do not hold: the allows of every role newly
	// given, and the rights the denies of every role taken away were masking.
	gs := rolesGrants(give...)
	taken := map[string]bool{}
	for _, a := range removed {
		if r, ok := roles[a.RoleID]; ok && !taken[a.RoleID] && r.Status == rolegate.StatusActive && !lapsed(a, now) {
			taken[a.RoleID] = true
			gs = append(gs, deniesOf(r.Permissions)...)
		}
	}
	if err := s.mayGive(ctx, entityID, gs); err != nil {
		return err
	}

	if err := tx.InsertUsers(created); err != nil {
		return err
	}
	for i := range updated {
		if err := tx.UpdateUser(&updated[i]); err != nil {
			return err
		}
	}
	rules := make([]rolegate.Rule, 0, len(removed))
	for _, a := range removed {
		if err := tx.DeleteAssignment(a); err != nil {
			return err
		}
		rules = append(rules, engine.CompileAssignment(a))
	}
	if err := tx.RemoveRules(rules); err != nil {
		return err
	}
	if err := tx.InsertAssignments(added); err != nil {
		return err
	}
	rules = make([]rolegate.Rule, 0, len(added))
	for _, a := range added {
		rules = append(rules, engine.CompileAssignment(a))
	}
	if err := tx.AddRules(rules); err != nil {
		return err
	}
	if err := tx.InsertAuditEvents(events); err != nil {
		return err
	}
	res.Created, res.Updated = len(created), len(updated)
	return nil
}

// loadRoles reads the roles of the entity with the given ids (any status)
// into roles, skipping those already there; ids that name no role of the
// entity are left out.
func loadRoles(tx Tx, entityID string, ids []string, roles map[string]rolegate.Role) error {
	var want []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := roles[id]; !ok && !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	return inChunks(want, importChunk, func(part []string) error {
		rs, err := tx.ListRoles(entityID, RoleFilter{IDs: part}, Page{})
		if err != nil {
			return err
		}
		for _, r := range rs {
			roles[r.ID] = r
		}
		return nil
	})
}

// userRolesOf lists held assignments as the roles a user holds, sorted as
// userRoles sorts them; assignments of roles that no longer exist are left
// out, as userRoles leaves them.
func userRolesOf(as []rolegate.Assignment, roles map[string]rolegate.Role) []rolegate.UserRole {
	out := []rolegate.UserRole{}
	for _, a := range as {
		if r, ok := roles[a.RoleID]; ok {
			out = append(out, rolegate.UserRole{Role: r, Scope: a.Scope})
		}
	}
	sortUserRoles(out)
	return out
}
