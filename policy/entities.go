package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
)

// RoleTemplate is a system role every new entity gets.
type RoleTemplate struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Permissions rolegate.Permissions `json:"-"`
	Default     bool                 `json:"default"`
}

// DefaultTemplates are the system roles used when no templates are configured:
// admin may do everything; member holds nothing and is the default role.
func DefaultTemplates() []RoleTemplate {
	return []RoleTemplate{
		{Name: "admin", Description: "May do everything in the entity",
			Permissions: rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: rolegate.Wildcard,
				Actions: []rolegate.ActionPermission{{ActionName: rolegate.Wildcard, Permission: rolegate.Allowed}}}}}},
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

// entityExists answers 404 for an unknown entity.
func entityExists(tx Tx, entityID string) error {
	if _, err := tx.GetEntity(entityID); err != nil {
		if rolegate.IsNotFound(err) {
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
	return rolegate.Errorf(rolegate.KindNotFound, "entity_not_found", "entity %q not found", id)
}

// EntityInput creates an entity; an empty ID gets a new UUID.
type EntityInput struct {
	ID   string
	Name string
}

// CreateEntity stores a new entity with its system roles.
func (s *Service) CreateEntity(ctx context.Context, in EntityInput) (rolegate.Entity, error) {
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
		return rolegate.Entity{}, err
	}
	if in.ID == "" {
		in.ID = uuid.NewString()
	}
	if !rolegate.ValidEntityID(in.ID) {
		return rolegate.Entity{}, rolegate.Invalid("invalid_entity_id", "id", "id must be 1-64 characters of A-Za-z0-9._:-, not . or ..")
	}
	if err := validateText("name", in.Name, MaxNameLen); err != nil {
		return rolegate.Entity{}, err
	}
	now := s.clock()
	ent := rolegate.Entity{ID: in.ID, Name: in.Name, Revision: 1, CreatedAt: now, UpdatedAt: now}
	actor := auth.ActorFrom(ctx).ID
	err := s.store.Update(ctx, func(tx Tx) error {
		if err := tx.InsertEntity(&ent); err != nil {
			if errors.Is(err, rolegate.ErrDuplicate) {
				return rolegate.Errorf(rolegate.KindConflict, "entity_exists", "entity %q already exists", in.ID)
			}
			return err
		}
		for _, t := range s.templates {
			r := rolegate.Role{ID: uuid.NewString(), EntityID: ent.ID, Name: t.Name, Description: t.Description,
				Permissions: t.Permissions, Default: t.Default, RoleType: rolegate.RoleSystem, Scope: rolegate.ScopeAccount,
				Status: rolegate.StatusActive, Version: 1, CreatedAt: now, CreatedBy: actor, UpdatedAt: now, UpdatedBy: actor}
			if err := tx.InsertRole(&r); err != nil {
				return err
			}
			if err := putConditions(tx, ent.ID, r.Permissions); err != nil {
				return err
			}
			if err := tx.AddRules(engine.Compile(r)); err != nil {
				return err
			}
		}
		// The feed's first item: everything of the entity is new.
		if err := tx.AppendPolicyChange(changes.Entry{EntityID: ent.ID, Revision: ent.Revision, Kind: changes.EntryReload,
			At: now, Items: changes.EntityItems()}, changes.Keep); err != nil {
			return err
		}
		// Its history begins with it: rebased on what it holds (Full).
		rec := &recorder{tx: tx, entityID: ent.ID}
		if err := s.audit(ctx, rec, now, ent.ID, AuditEntityCreate, AuditObjectEntity, ent.ID, nil, entityDocOf(ent)); err != nil {
			return err
		}
		return tx.AppendHistory(rolegate.Revision{EntityID: ent.ID, Revision: ent.Revision, At: now, Actor: actor}, rec.change, engine.Delta{Full: true})
	})
	if err != nil {
		return rolegate.Entity{}, err
	}
	s.engine.Forget(ent.ID) // an earlier check may have cached "unknown entity"
	s.asOfs.drop(ent.ID)    // and an as-of one, the history of one deleted since
	s.committed(ent.ID, ent.Revision)
	return ent, nil
}

// GetEntity returns one entity.
func (s *Service) GetEntity(ctx context.Context, id string) (rolegate.Entity, error) {
	if err := s.authorize(ctx, id, auth.ScopeManage, ObjectRole, ActionRead); err != nil {
		return rolegate.Entity{}, err
	}
	var ent rolegate.Entity
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		ent, err = tx.GetEntity(id)
		if rolegate.IsNotFound(err) {
			return EntityNotFound(id)
		}
		return err
	})
	return ent, err
}

// ListEntities returns up to limit entities ordered by id, after the given id.
func (s *Service) ListEntities(ctx context.Context, afterID string, limit int) ([]rolegate.Entity, error) {
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
		return nil, err
	}
	var out []rolegate.Entity
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListEntities(afterID, limit)
		return err
	})
	return out, err
}

// DeleteEntity removes an entity and everything of it.
func (s *Service) DeleteEntity(ctx context.Context, id string) (int64, error) {
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
		return 0, err
	}
	var rev int64
	var clients []auth.Client
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if rev, err = tx.BumpRevision(id, s.clock()); err != nil {
			if rolegate.IsNotFound(err) {
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
		return 0, err
	}
	s.engine.Forget(id)
	s.asOfs.drop(id) // its history went with it
	s.committed(id, rev)
	// Its audit events went with it: the deletion is recorded here.
	s.log.InfoContext(ctx, "entity deleted", "entity_id", id, "actor", auth.ActorFrom(ctx).ID, "request_id", RequestIDFrom(ctx))
	s.entityClientsDeleted(ctx, id, clients)
	return rev, nil
}
