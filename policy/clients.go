package policy

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// Client is an API client: a service that gets tokens with its id and
// secret (OAuth 2 client credentials). EntityID binds it to one entity.
type Client struct {
	ID         string
	Name       string
	EntityID   string
	Scopes     []string
	SecretHash string // bcrypt
	CreatedAt  time.Time
	CreatedBy  string
	// EntityIncarnation is the incarnation of EntityID the client is bound
	// to: once the entity is deleted (and perhaps made again), the client is
	// not its client.
	EntityIncarnation string
}

// ClientInput creates a client.
type ClientInput struct {
	Name     string
	EntityID string
	Scopes   []string
}

// bcryptCost makes checking one secret take tens of milliseconds.
const bcryptCost = 11

// validScopes are the scopes a client may hold.
var validScopes = map[string]bool{ScopeCheck: true, ScopeManage: true, ScopeAdmin: true}

// CreateClient stores a new client and returns it with its secret, which is
// kept only as a bcrypt hash: this is the one time it is shown.
func (s *Service) CreateClient(ctx context.Context, in ClientInput) (Client, string, error) {
	if err := s.authorize(ctx, "", ScopeAdmin, "", ""); err != nil {
		return Client{}, "", err
	}
	if err := validateText("name", in.Name, MaxNameLen); err != nil {
		return Client{}, "", err
	}
	if strings.TrimSpace(in.Name) == "" {
		return Client{}, "", Invalid("missing_field", "name", "name is required")
	}
	if len(in.Scopes) == 0 {
		return Client{}, "", Invalid("missing_field", "scopes", "scopes is required: one or more of check, manage, admin")
	}
	seen := map[string]bool{}
	for i, sc := range in.Scopes {
		if !validScopes[sc] {
			return Client{}, "", Invalid("invalid_scope", fmt.Sprintf("scopes[%d]", i), "scopes[%d] must be check, manage or admin", i)
		}
		if seen[sc] {
			return Client{}, "", Invalid("invalid_scope", fmt.Sprintf("scopes[%d]", i), "scopes[%d] repeats %q", i, sc)
		}
		seen[sc] = true
	}
	if in.EntityID != "" && seen[ScopeAdmin] {
		return Client{}, "", Invalid("invalid_scope", "scopes", "a client bound to an entity cannot hold the admin scope")
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return Client{}, "", err
	}
	secret := "rgs_" + base64.RawURLEncoding.EncodeToString(buf)
	hash, err := bcrypt.GenerateFromPassword([]byte(secret), bcryptCost)
	if err != nil {
		return Client{}, "", err
	}
	c := Client{ID: uuid.NewString(), Name: in.Name, EntityID: in.EntityID, Scopes: in.Scopes,
		SecretHash: string(hash), CreatedAt: s.clock(), CreatedBy: ActorFrom(ctx).ID}
	err = s.store.Update(ctx, func(tx Tx) error {
		if c.EntityID != "" {
			ent, err := tx.GetEntity(c.EntityID)
			if err != nil {
				if isNotFound(err) {
					return Invalid("unknown_entity", "entity_id", "entity %q does not exist", c.EntityID)
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
		return Client{}, "", err
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
func (s *Service) auditClient(ctx context.Context, tx Tx, action string, before, after *Client) error {
	c := before
	if c == nil {
		c = after
	}
	doc := func(c *Client) any {
		if c == nil {
			return nil
		}
		return clientDoc{ClientID: c.ID, Name: c.Name, EntityID: c.EntityID, Scopes: c.Scopes,
			CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339Nano), CreatedBy: c.CreatedBy}
	}
	if c.EntityID != "" {
		if _, err := tx.GetEntity(c.EntityID); err != nil && !isNotFound(err) {
			return err
		} else if err == nil {
			return s.audit(ctx, tx, s.clock(), c.EntityID, action, AuditObjectClient, c.ID, doc(before), doc(after))
		}
	}
	s.log.InfoContext(ctx, "audit", "action", action, "client_id", c.ID, "name", c.Name,
		"actor", ActorFrom(ctx).ID, "request_id", RequestIDFrom(ctx))
	return nil
}

// GetClient returns a client.
func (s *Service) GetClient(ctx context.Context, id string) (Client, error) {
	if err := s.authorize(ctx, "", ScopeAdmin, "", ""); err != nil {
		return Client{}, err
	}
	var c Client
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		c, err = tx.GetClient(id)
		return err
	})
	if isNotFound(err) {
		return Client{}, Errorf(KindNotFound, "client_not_found", "client %q not found", id)
	}
	return c, err
}

// ListClients returns clients ordered by id, those after afterID.
func (s *Service) ListClients(ctx context.Context, afterID string, limit int) ([]Client, error) {
	if err := s.authorize(ctx, "", ScopeAdmin, "", ""); err != nil {
		return nil, err
	}
	var out []Client
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListClients(afterID, limit)
		return err
	})
	return out, err
}

// DeleteClient removes a client; its tokens stop working.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	if err := s.authorize(ctx, "", ScopeAdmin, "", ""); err != nil {
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
	if isNotFound(err) {
		return Errorf(KindNotFound, "client_not_found", "client %q not found", id)
	}
	if err == nil {
		s.clientsSeen.Delete(id) // no outage grace for a deleted client
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

// VerifyClient checks a client's id and secret. It takes as long (a bcrypt
// comparison) whether or not the client exists.
func (s *Service) VerifyClient(ctx context.Context, id, secret string) (Client, error) {
	var c Client
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		c, err = tx.GetClient(id)
		return err
	})
	if err != nil && !isNotFound(err) {
		return Client{}, err
	}
	hash := []byte(c.SecretHash)
	if err != nil {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(secret)) != nil || err != nil {
		return Client{}, Errorf(KindUnauthenticated, "invalid_client", "the client id or secret is not valid")
	}
	s.clientsSeen.Store(id, time.Now())
	return c, nil
}

// ClientExists reports whether a client is still there (tokens of a deleted
// client stop working). While the store cannot be reached, a client this
// instance saw in the store less than clientOutageGrace ago is taken to be
// there still, so that checks keep answering through a database outage (no
// client can be deleted meanwhile; one deleted just before on another
// instance keeps working until the store answers again, at most that long).
func (s *Service) ClientExists(ctx context.Context, id string) (bool, error) {
	err := s.store.View(ctx, func(tx Tx) error {
		_, err := tx.GetClient(id)
		return err
	})
	switch {
	case err == nil:
		s.clientsSeen.Store(id, time.Now())
		return true, nil
	case isNotFound(err):
		s.clientsSeen.Delete(id)
		return false, nil
	case errors.Is(err, ErrUnavailable):
		if seen, ok := s.clientsSeen.Load(id); ok && time.Since(seen.(time.Time)) < clientOutageGrace {
			return true, nil
		}
	}
	return false, err
}

// clientOutageGrace is how long after it was last seen in the store a client
// is believed to exist while the store does not answer.
const clientOutageGrace = time.Hour

// OnClientDeleted registers fn to hear of deleted clients (the token
// verifier drops them from its cache at once).
func (s *Service) OnClientDeleted(fn func(id string)) { s.onClientDeleted = fn }

// OnEntityDeleted registers fn to hear of entities deleted on this instance
// (the token verifier forgets their incarnation at once).
func (s *Service) OnEntityDeleted(fn func(id string)) { s.onEntityDeleted = fn }

// entityClientsDeleted records the clients deleted with their entity, in
// the log as the entity's own deletion is (its audit log went with it), and
// tells the token verifier.
func (s *Service) entityClientsDeleted(ctx context.Context, entityID string, clients []Client) {
	for _, c := range clients {
		s.clientsSeen.Delete(c.ID)
		s.log.InfoContext(ctx, "audit", "action", AuditClientDelete, "client_id", c.ID, "name", c.Name, "entity_id", entityID,
			"reason", "entity deleted", "actor", ActorFrom(ctx).ID, "request_id", RequestIDFrom(ctx))
		if s.onClientDeleted != nil {
			s.onClientDeleted(c.ID)
		}
	}
	if s.onEntityDeleted != nil {
		s.onEntityDeleted(entityID)
	}
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("rolegate: no such client"), bcryptCost)
