package policy

import (
	"context"
	"strings"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
)

// API clients are auth's (auth.Client); the service creates, lists and
// deletes them for administrators, in the audit log's transaction.

// CreateClient stores a new client and returns it with its secret, which is
// kept only as a bcrypt hash: this is the one time it is shown.
func (s *Service) CreateClient(ctx context.Context, in auth.ClientInput) (auth.Client, string, error) {
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
		return auth.Client{}, "", err
	}
	if err := validateText("name", in.Name, MaxNameLen); err != nil {
		return auth.Client{}, "", err
	}
	if strings.TrimSpace(in.Name) == "" {
		return auth.Client{}, "", rolegate.Invalid("missing_field", "name", "name is required")
	}
	c, secret, err := auth.NewClient(in, s.clock(), auth.ActorFrom(ctx).ID)
	if err != nil {
		return auth.Client{}, "", err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if c.EntityID != "" {
			ent, err := tx.GetEntity(c.EntityID)
			if err != nil {
				if rolegate.IsNotFound(err) {
					return rolegate.Invalid("unknown_entity", "entity_id", "entity %q does not exist", c.EntityID)
				}
				return err
			}
			c.EntityIncarnation = ent.Incarnation
		}
		if err := tx.InsertClient(&c); err != nil {
			return err
		}
		return s.auditClient(ctx, tx, AuditClientCreate, nil, &c)
	})
	if err != nil {
		return auth.Client{}, "", err
	}
	return c, secret, nil
}

// clientDoc is a client as the audit log keeps it: never its secret.
type clientDoc struct {
	ClientID  string   `json:"client_id"`
	Name      string   `json:"name"`
	EntityID  string   `json:"entity_id"`
	Scopes    []string `json:"scopes"`
	CreatedAt string   `json:"created_at"`
	CreatedBy string   `json:"created_by"`
}

// auditClient records a change of a client in its entity's audit log, in the
// same transaction; a platform-wide client (no entity) is logged instead.
func (s *Service) auditClient(ctx context.Context, tx Tx, action string, before, after *auth.Client) error {
	c := before
	if c == nil {
		c = after
	}
	doc := func(c *auth.Client) any {
		if c == nil {
			return nil
		}
		return clientDoc{ClientID: c.ID, Name: c.Name, EntityID: c.EntityID, Scopes: c.Scopes,
			CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339Nano), CreatedBy: c.CreatedBy}
	}
	if c.EntityID != "" {
		if _, err := tx.GetEntity(c.EntityID); err != nil && !rolegate.IsNotFound(err) {
			return err
		} else if err == nil {
			return s.audit(ctx, tx, s.clock(), c.EntityID, action, AuditObjectClient, c.ID, doc(before), doc(after))
		}
	}
	s.log.InfoContext(ctx, "audit", "action", action, "client_id", c.ID, "name", c.Name,
		"actor", auth.ActorFrom(ctx).ID, "request_id", RequestIDFrom(ctx))
	return nil
}

// GetClient returns a client.
func (s *Service) GetClient(ctx context.Context, id string) (auth.Client, error) {
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
		return auth.Client{}, err
	}
	var c auth.Client
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		c, err = tx.GetClient(id)
		return err
	})
	if rolegate.IsNotFound(err) {
		return auth.Client{}, rolegate.Errorf(rolegate.KindNotFound, "client_not_found", "client %q not found", id)
	}
	return c, err
}

// ListClients returns clients ordered by id, those after afterID.
func (s *Service) ListClients(ctx context.Context, afterID string, limit int) ([]auth.Client, error) {
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
		return nil, err
	}
	var out []auth.Client
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListClients(afterID, limit)
		return err
	})
	return out, err
}

// DeleteClient removes a client; its tokens stop working.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
		return err
	}
	var entityID string
	var rev int64
	err := s.store.Update(ctx, func(tx Tx) error {
		c, err := tx.GetClient(id)
		if err != nil {
			return err
		}
		if err := tx.DeleteClient(id); err != nil {
			return err
		}
		if c.EntityID != "" {
			if e, err := tx.GetEntity(c.EntityID); err == nil {
				entityID, rev = e.ID, e.Revision
			}
		}
		return s.auditClient(ctx, tx, AuditClientDelete, &c, nil)
	})
	if rolegate.IsNotFound(err) {
		return rolegate.Errorf(rolegate.KindNotFound, "client_not_found", "client %q not found", id)
	}
	if err == nil {
		if s.onClientDeleted != nil {
			s.onClientDeleted(id)
		}
		if entityID != "" {
			// Other instances hear of it as of a change of the entity (at its
			// revision: nothing to reload) and look its clients up again.
			s.sync.Committed(entityID, rev)
		}
	}
	return err
}

// OnClientDeleted registers fn to hear of deleted clients (the token
// verifier drops them from its cache at once).
func (s *Service) OnClientDeleted(fn func(id string)) { s.onClientDeleted = fn }

// OnEntityChange registers fn to hear of the entities another instance
// changed (see changes.Syncer.OnEntityChange); with no Syncer there are none.
func (s *Service) OnEntityChange(fn func(entityID string, revision int64, exists bool)) {
	s.sync.OnEntityChange(fn)
}

// OnEntityDeleted registers fn to hear of entities deleted on this instance
// (the token verifier forgets their incarnation at once).
func (s *Service) OnEntityDeleted(fn func(id string)) { s.onEntityDeleted = fn }

// entityClientsDeleted records the clients deleted with their entity, in
// the log as the entity's own deletion is (its audit log went with it), and
// tells the token verifier.
func (s *Service) entityClientsDeleted(ctx context.Context, entityID string, clients []auth.Client) {
	for _, c := range clients {
		s.log.InfoContext(ctx, "audit", "action", AuditClientDelete, "client_id", c.ID, "name", c.Name, "entity_id", entityID,
			"reason", "entity deleted", "actor", auth.ActorFrom(ctx).ID, "request_id", RequestIDFrom(ctx))
		if s.onClientDeleted != nil {
			s.onClientDeleted(c.ID)
		}
	}
	if s.onEntityDeleted != nil {
		s.onEntityDeleted(entityID)
	}
}
