package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// RoleTemplate is a system role every new entity gets.
type RoleTemplate struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Permissions Permissions `json:"-"`
	Default     bool        `json:"default"`
}

// DefaultTemplates are the system roles used when no templates are configured:
// admin may do everything; member holds nothing and is the default role.
func DefaultTemplates() []RoleTemplate {
	return []RoleTemplate{
		{Name: "admin", Description: "May do everything in the entity",
			Permissions: Permissions{Objects: []ObjectPermissions{{ObjectType: Wildcard,
				Actions: []ActionPermission{{ActionName: Wildcard, Permission: Allowed}}}}}},
		{Name: "member", Description: "Default role of new users; holds no rights", Default: true},
	}
}

// ValidateTemplates checks system role templates as a role would be checked.
func ValidateTemplates(ts []RoleTemplate, catalog *Catalog) error {
	if len(ts) == 0 {
		return errors.New("role templates: at least one template is needed")
	}
	names := map[string]bool{}
	hasDefault := false
	for i, t := range ts {
		field := fmt.Sprintf("templates[%d]", i)
		if err := ValidateName(field+".name", t.Name); err != nil {
			return err
		}
		if names[t.Name] {
			return fmt.Errorf("role templates: name %q used twice", t.Name)
		}
		names[t.Name] = true
		if err := ValidatePermissions(field+".permissions", t.Permissions, catalog); err != nil {
			return err
		}
		hasDefault = hasDefault || t.Default
	}
	if !hasDefault {
		return errors.New("role templates: at least one template must be the default role")
	}
	return nil
}

// Config configures a Service.
type Config struct {
	Store     Store
	Engine    *Engine
	Templates []RoleTemplate // nil: DefaultTemplates
	Catalog   *Catalog       // nil: any object type and action
	// Syncer, when set, is told of every committed write so that other
	// instances hear of it.
	Syncer *Syncer
	Logger *slog.Logger
	Now    func() time.Time
	Quotas Quotas // what one entity may hold; zero fields take the defaults
	// MaxChangeWaiters and MaxChangeWaitersPerEntity bound the Changes calls
	// waiting for a write (0: DefaultMaxChangeWaiters, ...PerEntity).
	MaxChangeWaiters          int
	MaxChangeWaitersPerEntity int
}

// Service is what every caller goes through: the admins' writes and the
// checkers' questions.
type Service struct {
	store     Store
	engine    *Engine
	templates []RoleTemplate
	catalog   *Catalog
	sync      *Syncer
	log       *slog.Logger
	now       func() time.Time
	quotas    Quotas
	waits     *waiters // Changes calls waiting for a write

	onClientDeleted func(id string)
	onEntityDeleted func(id string)
	clientsSeen     sync.Map // client id -> time.Time it was last seen in the store
}

// NewService returns a service over a store and an engine.
func NewService(cfg Config) *Service {
	s := &Service{store: cfg.Store, engine: cfg.Engine, templates: cfg.Templates,
		catalog: cfg.Catalog, sync: cfg.Syncer, log: cfg.Logger, now: cfg.Now, quotas: cfg.Quotas.withDefaults(),
		waits: newWaiters(cfg.MaxChangeWaiters, cfg.MaxChangeWaitersPerEntity)}
	// Other instances' changes, heard or swept, wake the feed's waiters too.
	s.sync.watch(s.waits)
	if s.templates == nil {
		s.templates = DefaultTemplates()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Catalog returns the object-type catalog, nil when there is none.
func (s *Service) Catalog() *Catalog { return s.catalog }

// Engine returns the check engine.
func (s *Service) Engine() *Engine { return s.engine }

// Syncer returns what keeps this instance in step with others; nil when none.
func (s *Service) Syncer() *Syncer { return s.sync }

// Ready reports whether storage answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// clock returns the current time as stored: UTC, milliseconds.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// Actor is who makes a call. ID names it in created_by, updated_by and the
// audit log ("admin", "client:<client_id>", "user:<user_id>"). EntityID binds
// it to one entity (empty: every entity). When UserID is set, the caller is
// that user of EntityID and may give only rights it holds itself. Scopes are
// what the caller's token allows: ScopeCheck, ScopeManage, ScopeAdmin.
type Actor struct {
	ID       string
	EntityID string
	UserID   string
	ClientID string
	Scopes   []string
	// internal marks Rolegate's own calls (InternalActor): only code in this
	// module can make one, never a token.
	internal bool
}

// InternalActor is the caller of Rolegate's own calls that no request makes:
// commands (doctor, migrate, seeding), provisioning and tests. It may do
// everything. Every Service call needs a caller: one whose context carries
// none is refused (401), so that a route or a tool that forgets to
// authenticate fails closed.
func InternalActor() Actor {
	return Actor{ID: "internal", Scopes: []string{ScopeAdmin}, internal: true}
}

// Internal returns ctx carrying InternalActor.
func Internal(ctx context.Context) context.Context { return WithActor(ctx, InternalActor()) }

// Token scopes.
const (
	ScopeCheck  = "check"  // may call the check endpoints
	ScopeManage = "manage" // may manage roles, users and assignments
	ScopeAdmin  = "admin"  // everything, every entity
)

// Has reports whether the actor's token carries scope (admin carries all).
func (a Actor) Has(scope string) bool {
	for _, s := range a.Scopes {
		if s == scope || s == ScopeAdmin {
			return true
		}
	}
	return false
}

type actorKey struct{}

// WithActor returns a context carrying the caller.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the caller carried by ctx (the zero Actor when none).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// actorOf returns the caller carried by ctx and whether there is one.
func actorOf(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok && a.ID != ""
}

// write runs fn in one transaction after bumping the entity's revision, then,
// once committed, applies what fn changed (recorded as a Delta) to the
// entity's policy held in memory so that the next check on this instance sees
// the change, and tells the other instances.
func (s *Service) write(ctx context.Context, entityID string, fn func(tx Tx, now time.Time) error) (int64, error) {
	now := s.clock()
	dry := dryRunOf(ctx)
	if dry != nil {
		// A dry run tells what users would gain and lose: it reveals users'
		// rights, which the caller must be allowed to read.
		if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionRead); err != nil {
			return 0, err
		}
	}
	var rev int64
	var rec *recorder
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		rev, err = tx.BumpRevision(entityID, now)
		if err != nil {
			if isNotFound(err) {
				return EntityNotFound(entityID)
			}
			return err
		}
		rec = &recorder{tx: tx, entityID: entityID}
		if err := s.quotas.guard(rec, entityID, func() error { return fn(rec, now) }); err != nil {
			return err
		}
		if err := logChange(tx, entityID, rev, now, rec.delta, &rec.touched); err != nil {
			return err
		}
		if dry != nil {
			return errDryRun
		}
		return nil
	})
	if dry != nil && errors.Is(err, errDryRun) {
		dry.Gained, dry.Lost, err = s.engine.DryRun(context.WithoutCancel(ctx), entityID, rev, rec.delta)
		if err != nil {
			return 0, unavailable(err)
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s.apply(ctx, entityID, rev, rec.delta)
	s.committed(ctx, entityID, rev)
	return rev, nil
}

// committed records the revision a committed write took its entity to: in the
// request's context (the transport answers it) and for the other instances.
func (s *Service) committed(ctx context.Context, entityID string, rev int64) {
	noteRevision(ctx, rev)
	s.waits.signal(entityID, rev)
	s.sync.Committed(entityID, rev)
}

// apply brings the engine to the write's revision with the delta it recorded.
func (s *Service) apply(ctx context.Context, entityID string, rev int64, d Delta) {
	if err := s.engine.Apply(context.WithoutCancel(ctx), entityID, rev, d); err != nil {
		s.log.Warn("refresh entity policy after write", "entity_id", entityID, "error", err)
	}
}

// entityExists answers 404 for an unknown entity.
func entityExists(tx Tx, entityID string) error {
	if _, err := tx.GetEntity(entityID); err != nil {
		if isNotFound(err) {
			return EntityNotFound(entityID)
		}
		return err
	}
	return nil
}

// EntityNotFound is the 404 of an unknown entity, and of one the caller may
// not see: the two look the same.
func EntityNotFound(id string) error {
	if len(id) > 80 {
		id = id[:80] + "..."
	}
	return Errorf(KindNotFound, "entity_not_found", "entity %q not found", id)
}

func roleNotFound(id string) error {
	return Errorf(KindNotFound, "role_not_found", "role %q not found", id)
}

func userNotFound(id string) error {
	return Errorf(KindNotFound, "user_not_found", "user %q not found", id)
}

// ---- entities ----

// EntityInput creates an entity; an empty ID gets a new UUID.
type EntityInput struct {
	ID   string
	Name string
}

// CreateEntity stores a new entity with its system roles.
func (s *Service) CreateEntity(ctx context.Context, in EntityInput) (Entity, error) {
	if err := s.authorize(ctx, "", ScopeAdmin, "", ""); err != nil {
		return Entity{}, err
	}
	if in.ID == "" {
		in.ID = uuid.NewString()
	}
	if !ValidEntityID(in.ID) {
		return Entity{}, Invalid("invalid_entity_id", "id", "id must be 1-64 characters of A-Za-z0-9._:-")
	}
	if err := validateText("name", in.Name, MaxNameLen); err != nil {
		return Entity{}, err
	}
	now := s.clock()
	ent := Entity{ID: in.ID, Name: in.Name, Revision: 1, CreatedAt: now, UpdatedAt: now}
	actor := ActorFrom(ctx).ID
	err := s.store.Update(ctx, func(tx Tx) error {
		if err := tx.InsertEntity(&ent); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return Errorf(KindConflict, "entity_exists", "entity %q already exists", in.ID)
			}
			return err
		}
		for _, t := range s.templates {
			r := Role{ID: uuid.NewString(), EntityID: ent.ID, Name: t.Name, Description: t.Description,
				Permissions: t.Permissions, Default: t.Default, RoleType: RoleSystem, Scope: ScopeAccount,
				Status: StatusActive, Version: 1, CreatedAt: now, CreatedBy: actor, UpdatedAt: now, UpdatedBy: actor}
			if err := tx.InsertRole(&r); err != nil {
				return err
			}
			if err := tx.AddRules(Compile(r)); err != nil {
				return err
			}
		}
		// The feed's first item: everything of the entity is new.
		if err := tx.AppendPolicyChange(PolicyChange{EntityID: ent.ID, Revision: ent.Revision, Kind: ChangeReload,
			At: now, Items: entityItems()}, ChangeLogKeep); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, ent.ID, AuditEntityCreate, AuditObjectEntity, ent.ID, nil, entityDocOf(ent))
	})
	if err != nil {
		return Entity{}, err
	}
	s.engine.Forget(ent.ID) // an earlier check may have cached "unknown entity"
	s.committed(ctx, ent.ID, ent.Revision)
	return ent, nil
}

// GetEntity returns one entity.
func (s *Service) GetEntity(ctx context.Context, id string) (Entity, error) {
	if err := s.authorize(ctx, id, ScopeManage, ObjectRole, ActionRead); err != nil {
		return Entity{}, err
	}
	var ent Entity
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		ent, err = tx.GetEntity(id)
		if isNotFound(err) {
			return EntityNotFound(id)
		}
		return err
	})
	return ent, err
}

// ListEntities returns up to limit entities ordered by id, after the given id.
func (s *Service) ListEntities(ctx context.Context, afterID string, limit int) ([]Entity, error) {
	if err := s.authorize(ctx, "", ScopeAdmin, "", ""); err != nil {
		return nil, err
	}
	var out []Entity
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListEntities(afterID, limit)
		return err
	})
	return out, err
}

// DeleteEntity removes an entity and everything of it.
func (s *Service) DeleteEntity(ctx context.Context, id string) error {
	if err := s.authorize(ctx, "", ScopeAdmin, "", ""); err != nil {
		return err
	}
	var rev int64
	var clients []Client
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if rev, err = tx.BumpRevision(id, s.clock()); err != nil {
			if isNotFound(err) {
				return EntityNotFound(id)
			}
			return err
		}
		if err := tx.DeleteAuditEvents(id); err != nil {
			return err
		}
		// Its clients go with it: none may outlive it into an entity made
		// again under the same id.
		if clients, err = tx.DeleteEntityClients(id); err != nil {
			return err
		}
		return tx.DeleteEntity(id)
	})
	if err != nil {
		return err
	}
	s.engine.Forget(id)
	s.committed(ctx, id, rev)
	// Its audit events went with it: the deletion is recorded here.
	s.log.InfoContext(ctx, "entity deleted", "entity_id", id, "actor", ActorFrom(ctx).ID, "request_id", RequestIDFrom(ctx))
	s.entityClientsDeleted(ctx, id, clients)
	return nil
}

// ---- roles ----

// RoleInput is a role as a caller writes it. For a PATCH, nil fields stay as
// they are.
type RoleInput struct {
	// NameOptional lets a role be created or replaced without a name, as
	// Dintero's roles may be; unnamed roles are not subject to name uniqueness.
	NameOptional bool
	Name         *string
	Description  *string
	Permissions  *Permissions
	Default      *bool
	Scope        *string // only on create
	// View, when set, is what the caller's API shows of rights: an update of
	// Permissions keeps the role's rights it does not show (view.go).
	View *View
}

func (s *Service) validateRoleInput(in RoleInput) error {
	if in.Name != nil && !(in.NameOptional && *in.Name == "") {
		if err := ValidateName("name", *in.Name); err != nil {
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
		return Invalid("invalid_scope", "scope", "scope must be an identifier such as account or team")
	}
	return nil
}

// CreateRole stores a new custom role and its rules.
func (s *Service) CreateRole(ctx context.Context, entityID string, in RoleInput) (Role, error) {
	in.Name = nfc(in.Name)
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectRole, ActionCreate); err != nil {
		return Role{}, err
	}
	if in.Name == nil && !in.NameOptional {
		return Role{}, Invalid("missing_field", "name", "name is required")
	}
	if err := s.validateRoleInput(in); err != nil {
		return Role{}, err
	}
	if in.Permissions != nil {
		if err := s.mayGive(ctx, entityID, allowsOf(*in.Permissions)); err != nil {
			return Role{}, err
		}
	}
	actor := ActorFrom(ctx).ID
	r := Role{ID: uuid.NewString(), EntityID: entityID, RoleType: RoleCustom,
		Scope: ScopeAccount, Status: StatusActive, Version: 1, CreatedBy: actor, UpdatedBy: actor}
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
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		r.CreatedAt, r.UpdatedAt = now, now
		if err := tx.InsertRole(&r); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return nameTaken(r.Name)
			}
			return err
		}
		if err := tx.AddRules(Compile(r)); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditRoleCreate, AuditObjectRole, r.ID, nil, roleDocOf(r))
	})
	if err != nil {
		return Role{}, err
	}
	return r, nil
}

func nameTaken(name string) error {
	e := Errorf(KindConflict, "role_name_taken", "a role named %q already exists", name)
	e.Details = []Detail{{Field: "name", Message: "taken by another active role", Value: name}}
	return e
}

// GetRole returns a role of the entity, also a deleted one.
func (s *Service) GetRole(ctx context.Context, entityID, roleID string) (Role, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectRole, ActionRead); err != nil {
		return Role{}, err
	}
	var r Role
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		r, err = getRole(tx, entityID, roleID)
		return err
	})
	return r, err
}

func getRole(tx Tx, entityID, roleID string) (Role, error) {
	r, err := tx.GetRole(entityID, roleID)
	if isNotFound(err) {
		return r, roleNotFound(roleID)
	}
	return r, err
}

// ListRoles returns one page of the entity's roles. An unknown entity is 404.
func (s *Service) ListRoles(ctx context.Context, entityID string, f RoleFilter, p Page) ([]Role, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectRole, ActionRead); err != nil {
		return nil, err
	}
	var out []Role
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
func checkVersion(r Role, ifMatch int64) error {
	if ifMatch != 0 && ifMatch != r.Version {
		return Errorf(KindPrecondition, "version_mismatch", "role is at version %d, not %d", r.Version, ifMatch)
	}
	return nil
}

// lastDefault reports whether r is the entity's only active, entity-wide
// default role.
func lastDefault(tx Tx, r Role) (bool, error) {
	if !r.Default || r.Status != StatusActive || r.Scope != ScopeAccount {
		return false, nil
	}
	yes := true
	defaults, err := tx.ListRoles(r.EntityID, RoleFilter{Status: StatusActive, Default: &yes, Scope: ScopeAccount}, Page{Limit: 2, Sort: "created_at"})
	if err != nil {
		return false, err
	}
	return len(defaults) <= 1, nil
}

// UpdateRole changes a custom role: fields set in the input replace the
// role's (permissions as a whole). With replace, absent fields are reset to
// their zero values (PUT). ifMatch is the If-Match version, 0 for none.
func (s *Service) UpdateRole(ctx context.Context, entityID, roleID string, in RoleInput, replace bool, ifMatch int64) (Role, error) {
	in.Name = nfc(in.Name)
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectRole, ActionUpdate); err != nil {
		return Role{}, err
	}
	if replace && in.Name == nil && !in.NameOptional {
		return Role{}, Invalid("missing_field", "name", "name is required")
	}
	if in.Scope != nil {
		return Role{}, Invalid("immutable_field", "scope", "scope can only be set when the role is created")
	}
	if err := s.validateRoleInput(in); err != nil {
		return Role{}, err
	}
	var r Role
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		var err error
		if r, err = getRole(tx, entityID, roleID); err != nil {
			return err
		}
		if r.Status == StatusDeleted {
			return Errorf(KindConflict, "role_deleted", "role %q is deleted", roleID)
		}
		if err := checkVersion(r, ifMatch); err != nil {
			return err
		}
		old := r
		if replace {
			r.Name, r.Description, r.Permissions, r.Default = "", "", Permissions{}, false
		}
		if in.Name != nil {
			r.Name = *in.Name
		}
		if in.Description != nil {
			r.Description = *in.Description
		}
		if in.Permissions != nil {
			r.Permissions = *in.Permissions
			if in.View != nil {
				r.Permissions = in.View.Merge(old.Permissions, *in.Permissions)
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
		if old.RoleType == RoleSystem && (r.Name != old.Name || r.Description != old.Description ||
			!SamePermissions(r.Permissions, old.Permissions)) {
			return Errorf(KindForbidden, "system_role", "role %q is a system role: its name, description and rights cannot be changed", old.Name)
		}
		if old.RoleType == RoleSystem {
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
				return Errorf(KindConflict, "last_default_role", "role %q is the entity's last default role", old.Name)
			}
		}
		r.Version++
		r.UpdatedAt, r.UpdatedBy = now, ActorFrom(ctx).ID
		if err := tx.UpdateRole(&r); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return nameTaken(r.Name)
			}
			return err
		}
		if err := tx.ReplaceSubjectRules(entityID, RoleSubject(r.ID), Compile(r)); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditRoleUpdate, AuditObjectRole, r.ID, roleDocOf(old), roleDocOf(r))
	})
	if err != nil {
		return Role{}, err
	}
	return r, nil
}

// DeleteRole soft-deletes a custom role and removes its rules. While users
// hold it, it is 409 role_in_use unless force, which removes the assignments.
func (s *Service) DeleteRole(ctx context.Context, entityID, roleID string, force bool, ifMatch int64) (Role, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectRole, ActionDelete); err != nil {
		return Role{}, err
	}
	var r Role
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		var err error
		if r, err = getRole(tx, entityID, roleID); err != nil {
			return err
		}
		if r.Status == StatusDeleted {
			return roleNotFound(roleID)
		}
		if r.RoleType == RoleSystem {
			return Errorf(KindForbidden, "system_role", "role %q is a system role and cannot be deleted", r.Name)
		}
		if err := checkVersion(r, ifMatch); err != nil {
			return err
		}
		last, err := lastDefault(tx, r)
		if err != nil {
			return err
		}
		if last {
			return Errorf(KindConflict, "last_default_role", "role %q is the entity's last default role", r.Name)
		}
		held, err := tx.ListAssignments(entityID, AssignmentFilter{RoleID: roleID})
		if err != nil {
			return err
		}
		if len(held) > 0 && !force {
			e := Errorf(KindConflict, "role_in_use", "role %q is held by %d assignment(s); remove them or delete with force=true", r.Name, len(held))
			return e
		}
		if len(held) > 0 || r.Default {
			// Its denies stop masking rights of its holders (and of new users).
			if err := s.mayGive(ctx, entityID, deniesOf(r.Permissions)); err != nil {
				return err
			}
		}
		var grules []Rule
		for _, a := range held {
			if err := tx.DeleteAssignment(a); err != nil {
				return err
			}
			grules = append(grules, CompileAssignment(a))
		}
		if err := tx.RemoveRules(grules); err != nil {
			return err
		}
		oldRules, before := Compile(r), roleDocOf(r)
		r.Status, r.Version = StatusDeleted, r.Version+1
		actor := ActorFrom(ctx).ID
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
		return Role{}, err
	}
	return r, nil
}

// ListRoleUsers returns one page of the users holding a role (in any scope).
func (s *Service) ListRoleUsers(ctx context.Context, entityID, roleID string, p Page) ([]User, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionRead); err != nil {
		return nil, err
	}
	var out []User
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := getRole(tx, entityID, roleID); err != nil {
			return err
		}
		held, err := tx.ListAssignments(entityID, AssignmentFilter{RoleID: roleID})
		if err != nil {
			return err
		}
		if len(held) == 0 {
			return nil
		}
		ids := make([]string, 0, len(held))
		seen := map[string]bool{}
		for _, a := range held {
			if !seen[a.UserID] {
				seen[a.UserID] = true
				ids = append(ids, a.UserID)
			}
		}
		out, err = tx.ListUsers(entityID, UserFilter{IDs: ids}, p)
		return err
	})
	return out, err
}

// ---- users ----

// UserInput creates or changes a user. For a change, nil fields stay.
// RoleIDs replaces the user's entity-wide roles; on create, nil means the
// entity's default roles.
type UserInput struct {
	ID          string
	Email       *string
	Name        *string
	RoleIDs     *[]string
	Permissions *Permissions
	// View, when set, is what the caller's API shows of rights: an update of
	// Permissions keeps the user's rights it does not show (view.go).
	View *View
}

func (s *Service) validateUserInput(in UserInput) error {
	if in.Email != nil {
		if err := validateText("email", *in.Email, MaxEmailLen); err != nil {
			return err
		}
		if *in.Email != "" && (!strings.Contains(*in.Email, "@") || strings.ContainsAny(*in.Email, " \t\n")) {
			return Invalid("invalid_email", "email", "email must be an address such as ada@example.com")
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
				return Invalid("invalid_role_id", fmt.Sprintf("role_ids[%d]", i), "role_ids[%d] is not a role id", i)
			}
		}
	}
	if in.Permissions != nil {
		if err := ValidatePermissions("permissions", *in.Permissions, s.catalog); err != nil {
			return err
		}
	}
	return nil
}

// activeRoles resolves role ids to the entity's active roles; unknown or
// deleted ones are 422 naming them.
func activeRoles(tx Tx, entityID string, ids []string) ([]Role, error) {
	var out []Role
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		r, err := tx.GetRole(entityID, id)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		if err != nil || r.Status != StatusActive {
			return nil, Invalid("unknown_role", fmt.Sprintf("role_ids[%d]", i), "role %q does not exist in this entity", id)
		}
		out = append(out, r)
	}
	return out, nil
}

// CreateUser stores a user with its roles (the default roles when none are
// named) and its own rights.
func (s *Service) CreateUser(ctx context.Context, entityID string, in UserInput) (User, error) {
	in.Name = nfc(in.Name)
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionCreate); err != nil {
		return User{}, err
	}
	if in.ID == "" {
		in.ID = uuid.NewString()
	}
	if !ValidUserID(in.ID) {
		return User{}, Invalid("invalid_user_id", "id", "id must be 1-%d printable ASCII characters without spaces", MaxUserIDLen)
	}
	if err := s.validateUserInput(in); err != nil {
		return User{}, err
	}
	u := User{ID: in.ID, EntityID: entityID, CreatedBy: ActorFrom(ctx).ID}
	if in.Email != nil {
		u.Email = *in.Email
	}
	if in.Name != nil {
		u.Name = *in.Name
	}
	if in.Permissions != nil {
		u.Permissions = *in.Permissions
	}
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		u.CreatedAt, u.UpdatedAt = now, now
		var roles []Role
		var err error
		if in.RoleIDs != nil {
			roles, err = activeRoles(tx, entityID, *in.RoleIDs)
		} else {
			yes := true
			roles, err = tx.ListRoles(entityID, RoleFilter{Status: StatusActive, Default: &yes}, Page{Limit: 100, Sort: "created_at"})
		}
		if err != nil {
			return err
		}
		if err := s.mayGive(ctx, entityID, append(allowsOf(u.Permissions), rolesGrants(roles...)...)); err != nil {
			return err
		}
		if err := tx.InsertUser(&u); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return Errorf(KindConflict, "user_exists", "user %q already exists", u.ID)
			}
			return err
		}
		rules := CompileUser(u)
		for _, r := range roles {
			a := Assignment{EntityID: entityID, UserID: u.ID, RoleID: r.ID, CreatedAt: now}
			if err := tx.PutAssignment(&a); err != nil {
				return err
			}
			rules = append(rules, CompileAssignment(a))
			u.Roles = append(u.Roles, UserRole{Role: r})
		}
		if err := tx.AddRules(rules); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditUserCreate, AuditObjectUser, u.ID, nil, userDocOf(u))
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// GetUser returns a user with its roles.
func (s *Service) GetUser(ctx context.Context, entityID, userID string) (User, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionRead); err != nil {
		return User{}, err
	}
	var u User
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if u, err = getUser(tx, entityID, userID); err != nil {
			return err
		}
		u.Roles, err = s.userRoles(tx, entityID, userID, map[string]Role{})
		return err
	})
	return u, err
}

func getUser(tx Tx, entityID, userID string) (User, error) {
	u, err := tx.GetUser(entityID, userID)
	if isNotFound(err) {
		return u, userNotFound(userID)
	}
	return u, err
}

// userRoles lists the roles a user holds, entity-wide first, then by scope;
// an expired assignment no longer shows, even before the sweep removes it.
func (s *Service) userRoles(tx Tx, entityID, userID string, cache map[string]Role) ([]UserRole, error) {
	held, err := tx.ListAssignments(entityID, AssignmentFilter{UserID: userID})
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []UserRole{}
	for _, a := range held {
		if a.ExpiresAt != nil && !now.Before(*a.ExpiresAt) {
			continue
		}
		r, ok := cache[a.RoleID]
		if !ok {
			if r, err = tx.GetRole(entityID, a.RoleID); err != nil {
				if isNotFound(err) {
					continue
				}
				return nil, err
			}
			cache[a.RoleID] = r
		}
		out = append(out, UserRole{Role: r, Scope: a.Scope, ExpiresAt: a.ExpiresAt})
	}
	sortUserRoles(out)
	return out, nil
}

// ListUsers returns one page of the entity's users with their roles.
func (s *Service) ListUsers(ctx context.Context, entityID string, f UserFilter, p Page) ([]User, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionRead); err != nil {
		return nil, err
	}
	var out []User
	err := s.store.View(ctx, func(tx Tx) error {
		if err := entityExists(tx, entityID); err != nil {
			return err
		}
		var err error
		if out, err = tx.ListUsers(entityID, f, p); err != nil {
			return err
		}
		cache := map[string]Role{}
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
func (s *Service) UpdateUser(ctx context.Context, entityID, userID string, in UserInput) (User, error) {
	in.Name = nfc(in.Name)
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionUpdate); err != nil {
		return User{}, err
	}
	if err := s.validateUserInput(in); err != nil {
		return User{}, err
	}
	var u User
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		var err error
		if u, err = getUser(tx, entityID, userID); err != nil {
			return err
		}
		if u.Roles, err = s.userRoles(tx, entityID, userID, map[string]Role{}); err != nil {
			return err
		}
		before := userDocOf(u)
		if in.Email != nil {
			u.Email = *in.Email
		}
		if in.Name != nil {
			u.Name = *in.Name
		}
		if in.Permissions != nil {
			next := *in.Permissions
			if in.View != nil {
				next = in.View.Merge(u.Permissions, *in.Permissions)
				if err := ValidatePermissions("permissions", next, s.catalog); err != nil {
					return err
				}
			}
			if err := s.mayGive(ctx, entityID, gained(u.Permissions, next)); err != nil {
				return err
			}
			u.Permissions = next
			if err := tx.ReplaceSubjectRules(entityID, UserSubject(u.ID), CompileUser(u)); err != nil {
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
		if u.Roles, err = s.userRoles(tx, entityID, userID, map[string]Role{}); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditUserUpdate, AuditObjectUser, u.ID, before, userDocOf(u))
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

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
			if err != nil && !isNotFound(err) {
				return err
			}
			if err == nil && r.Status == StatusActive {
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
	var add, remove []Rule
	for _, a := range have {
		if !keep[a.RoleID] || expired[a.RoleID] {
			if err := tx.DeleteAssignment(a); err != nil {
				return err
			}
			remove = append(remove, CompileAssignment(a))
		}
	}
	for _, r := range want {
		if held[r.ID] {
			continue
		}
		a := Assignment{EntityID: entityID, UserID: userID, RoleID: r.ID, Scope: scope, CreatedAt: now}
		if err := tx.PutAssignment(&a); err != nil {
			return err
		}
		add = append(add, CompileAssignment(a))
	}
	if err := tx.RemoveRules(remove); err != nil {
		return err
	}
	return tx.AddRules(add)
}

// DeleteUser removes a user, its assignments and its rules, and returns the
// user as it was, with the roles it held.
func (s *Service) DeleteUser(ctx context.Context, entityID, userID string) (User, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionDelete); err != nil {
		return User{}, err
	}
	var u User
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		var err error
		if u, err = getUser(tx, entityID, userID); err != nil {
			return err
		}
		if u.Roles, err = s.userRoles(tx, entityID, userID, map[string]Role{}); err != nil {
			return err
		}
		held, err := tx.ListAssignments(entityID, AssignmentFilter{UserID: userID})
		if err != nil {
			return err
		}
		rules := CompileUser(u)
		for _, a := range held {
			if err := tx.DeleteAssignment(a); err != nil {
				return err
			}
			rules = append(rules, CompileAssignment(a))
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
		return User{}, err
	}
	return u, nil
}

// SetScopedRoles makes the roles a user holds inside scope (such as
// "team:42") exactly roleIDs, replacing what it held there; nil means the
// entity's default roles. It returns the roles now held there.
func (s *Service) SetScopedRoles(ctx context.Context, entityID, userID, scope string, roleIDs []string) ([]Role, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionUpdate); err != nil {
		return nil, err
	}
	if !ValidScope(scope) {
		return nil, Invalid("invalid_scope", "scope", "scope must be 1-128 characters of A-Za-z0-9._:- such as team:42")
	}
	for i, id := range roleIDs {
		if id == "" || len(id) > 64 {
			return nil, Invalid("invalid_role_id", fmt.Sprintf("role_ids[%d]", i), "role_ids[%d] is not a role id", i)
		}
	}
	var out []Role
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		if _, err := getUser(tx, entityID, userID); err != nil {
			return err
		}
		held, err := s.userRoles(tx, entityID, userID, map[string]Role{})
		if err != nil {
			return err
		}
		before := scopedRolesDocOf(userID, scope, held)
		ids := roleIDs
		if ids == nil {
			yes := true
			defaults, err := tx.ListRoles(entityID, RoleFilter{Status: StatusActive, Default: &yes}, Page{Limit: 100, Sort: "created_at"})
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
		if held, err = s.userRoles(tx, entityID, userID, map[string]Role{}); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditTeamRolesSet, AuditObjectAssignment, userID, before, scopedRolesDocOf(userID, scope, held))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AssignRole gives a user a role, entity-wide or inside scope. Assigning a
// role the user holds returns the existing assignment.
func (s *Service) AssignRole(ctx context.Context, entityID, userID, roleID, scope string) (Assignment, error) {
	return s.AssignRoleUntil(ctx, entityID, userID, roleID, scope, nil)
}

// AssignRoleUntil gives a user a role, entity-wide or inside scope, until
// expiresAt (nil: for good). Assigning a role the user holds in that scope
// sets the existing assignment's expiry to expiresAt.
func (s *Service) AssignRoleUntil(ctx context.Context, entityID, userID, roleID, scope string, expiresAt *time.Time) (Assignment, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionUpdate); err != nil {
		return Assignment{}, err
	}
	if scope != "" && !ValidScope(scope) {
		return Assignment{}, Invalid("invalid_scope", "scope", "scope must be 1-128 characters of A-Za-z0-9._:- such as team:42")
	}
	if err := s.validExpiry(expiresAt); err != nil {
		return Assignment{}, err
	}
	var a Assignment
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		if _, err := getUser(tx, entityID, userID); err != nil {
			return err
		}
		r, err := getRole(tx, entityID, roleID)
		if err != nil {
			return err
		}
		if r.Status != StatusActive {
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
			if err := tx.RemoveRules([]Rule{CompileAssignment(old)}); err != nil {
				return err
			}
			if err := tx.AddRules([]Rule{CompileAssignment(a)}); err != nil {
				return err
			}
			return s.audit(ctx, tx, now, entityID, AuditAssignmentUpdate, AuditObjectAssignment, userID, assignmentDocOf(old), assignmentDocOf(a))
		}
		a = Assignment{EntityID: entityID, UserID: userID, RoleID: roleID, Scope: scope, CreatedAt: now, ExpiresAt: expiresAt}
		if err := tx.PutAssignment(&a); err != nil {
			return err
		}
		if err := tx.AddRules([]Rule{CompileAssignment(a)}); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditAssignmentCreate, AuditObjectAssignment, userID, nil, assignmentDocOf(a))
	})
	return a, err
}

// UnassignRole takes a role from a user, in one scope ("" entity-wide).
func (s *Service) UnassignRole(ctx context.Context, entityID, userID, roleID, scope string) error {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionUpdate); err != nil {
		return err
	}
	_, err := s.write(ctx, entityID, func(tx Tx, now time.Time) error {
		if _, err := getUser(tx, entityID, userID); err != nil {
			return err
		}
		a := Assignment{EntityID: entityID, UserID: userID, RoleID: roleID, Scope: scope}
		sc := scope
		have, err := tx.ListAssignments(entityID, AssignmentFilter{UserID: userID, RoleID: roleID, Scope: &sc})
		if err != nil {
			return err
		}
		if len(have) > 0 {
			a = have[0]
			// Its denies stop masking rights of the user.
			r, err := tx.GetRole(entityID, roleID)
			if err != nil && !isNotFound(err) {
				return err
			}
			if err == nil && r.Status == StatusActive {
				if err := s.mayGive(ctx, entityID, deniesOf(r.Permissions)); err != nil {
					return err
				}
			}
		}
		if err := tx.DeleteAssignment(a); err != nil {
			if isNotFound(err) {
				return Errorf(KindNotFound, "assignment_not_found", "user %q does not hold role %q in that scope", userID, roleID)
			}
			return err
		}
		if err := tx.RemoveRules([]Rule{CompileAssignment(a)}); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditAssignmentDelete, AuditObjectAssignment, userID, assignmentDocOf(a), nil)
	})
	return err
}

// UserRoles lists the roles a user holds.
func (s *Service) UserRoles(ctx context.Context, entityID, userID string) ([]UserRole, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionRead); err != nil {
		return nil, err
	}
	var out []UserRole
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := getUser(tx, entityID, userID); err != nil {
			return err
		}
		var err error
		out, err = s.userRoles(tx, entityID, userID, map[string]Role{})
		return err
	})
	return out, err
}

// UserPermissions returns a user's effective rights (deny applied), entity-wide
// plus inside scope when one is given.
func (s *Service) UserPermissions(ctx context.Context, entityID, userID, scope string) (Permissions, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionRead); err != nil {
		return Permissions{}, err
	}
	if _, err := s.GetUser(ctx, entityID, userID); err != nil {
		return Permissions{}, err
	}
	p, _, err := s.engine.Effective(ctx, entityID, userID, scope)
	return p, err
}

// ---- checks ----

// authorizeCheck lets a caller ask a check: a token with the check scope,
// bound to the check's entity or to none; a user of the entity may ask about
// itself, and about others with the right to read checks.
func (s *Service) authorizeCheck(ctx context.Context, req CheckRequest) error {
	a := ActorFrom(ctx)
	if a.UserID != "" && a.EntityID == req.EntityID && req.UserID == a.UserID && a.Has(ScopeCheck) {
		return nil
	}
	return s.authorize(ctx, req.EntityID, ScopeCheck, ObjectCheck, ActionRead)
}

// ValidateCheck checks that a check names everything it must.
func ValidateCheck(prefix string, req CheckRequest) error {
	for _, f := range []struct{ name, value string }{
		{"entity_id", req.EntityID}, {"user_id", req.UserID},
		{"object_type", req.ObjectType}, {"action", req.Action},
	} {
		if f.value == "" {
			return Invalid("missing_field", prefix+f.name, "%s%s is required", prefix, f.name)
		}
		if len(f.value) > MaxUserIDLen {
			return Invalid("invalid_field", prefix+f.name, "%s%s is too long", prefix, f.name)
		}
	}
	if len(req.OwnerID) > MaxUserIDLen || len(req.Scope) > MaxUserIDLen {
		return Invalid("invalid_field", prefix+"scope", "%sowner_id and %sscope must be at most %d characters", prefix, prefix, MaxUserIDLen)
	}
	if req.MinRevision < 0 {
		return Invalid("invalid_field", prefix+"min_revision", "%smin_revision must be a revision a write returned (a positive number)", prefix)
	}
	return nil
}

// Check answers one question. It never allows on error.
func (s *Service) Check(ctx context.Context, req CheckRequest) (Decision, error) {
	if err := ValidateCheck("", req); err != nil {
		return Decision{Permission: NotAllowed}, err
	}
	if err := s.authorizeCheck(ctx, req); err != nil {
		return Decision{Permission: NotAllowed}, err
	}
	if err := s.reachable(ctx, "min_revision", req.EntityID, req.MinRevision); err != nil {
		return Decision{Permission: NotAllowed}, err
	}
	d, err := s.engine.Check(ctx, req)
	if err != nil {
		return Decision{Permission: NotAllowed}, unavailable(err)
	}
	s.hideGrantable(ctx, req.EntityID, &d)
	return d, nil
}

// hideGrantable drops an explained refusal's grantable_by (other roles of the
// entity, by id and name) when the caller is a user of the entity who may not
// read roles: asking a check about oneself must not list roles one may not
// see. Matched and denied_by name only the asked user's own roles.
func (s *Service) hideGrantable(ctx context.Context, entityID string, d *Decision) {
	if d.GrantableBy == nil || ActorFrom(ctx).UserID == "" {
		return
	}
	if s.authorize(ctx, entityID, ScopeManage, ObjectRole, ActionRead) != nil {
		d.GrantableBy = nil
	}
}

// CheckBatch answers several questions, in order.
func (s *Service) CheckBatch(ctx context.Context, reqs []CheckRequest) ([]Decision, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if err := ValidateCheck(fmt.Sprintf("checks[%d].", i), r); err != nil {
			return nil, err
		}
		if i > 0 && r.EntityID == reqs[i-1].EntityID && r.UserID == reqs[i-1].UserID {
			continue // authorized just above
		}
		if err := s.authorizeCheck(ctx, r); err != nil {
			return nil, err
		}
	}
	if err := s.reachableAll(ctx, reqs); err != nil {
		return nil, err
	}
	out := make([]Decision, len(reqs))
	for i, r := range reqs {
		d, err := s.engine.Check(ctx, r)
		if err != nil {
			return nil, unavailable(err)
		}
		s.hideGrantable(ctx, r.EntityID, &d)
		out[i] = d
	}
	return out, nil
}

// unavailable turns a failure to load a policy into 503: the answer is
// unknown, which is never an allow.
func unavailable(err error) error {
	if IsKind(err, KindUnavailable) {
		return err
	}
	return &Error{Kind: KindUnavailable, Code: "policy_unavailable", Message: "the entity's policy cannot be loaded now, try again", Err: err}
}

// nfc is a name normalized as stored (NormalizeName); nil stays nil.
func nfc(name *string) *string {
	if name == nil {
		return nil
	}
	n := NormalizeName(*name)
	return &n
}
