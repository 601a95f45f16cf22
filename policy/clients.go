package policy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/rolegate/rolegate"
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
		return Client{}, "", rolegate.Invalid("missing_field", "name", "name is required")
	}
	if len(in.Scopes) == 0 {
		return Client{}, "", rolegate.Invalid("missing_field", "scopes", "scopes is required: one or more of check, manage, admin")
	}
	seen := map[string]bool{}
	for i, sc := range in.Scopes {
		if !validScopes[sc] {
			return Client{}, "", rolegate.Invalid("invalid_scope", fmt.Sprintf("scopes[%d]", i), "scopes[%d] must be check, manage or admin", i)
		}
		if seen[sc] {
			return Client{}, "", rolegate.Invalid("invalid_scope", fmt.Sprintf("scopes[%d]", i), "scopes[%d] repeats %q", i, sc)
		}
		seen[sc] = true
	}
	if in.EntityID != "" && seen[ScopeAdmin] {
		return Client{}, "", rolegate.Invalid("invalid_scope", "scopes", "a client bound to an entity cannot hold the admin scope")
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
		if _, err := tx.GetEntity(c.EntityID); err != nil && !rolegate.IsNotFound(err) {
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
	if rolegate.IsNotFound(err) {
		return Client{}, rolegate.Errorf(rolegate.KindNotFound, "client_not_found", "client %q not found", id)
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

// MaxClientSecretLen bounds the client secrets worth checking: bcrypt reads
// only the first 72 bytes, and the secrets CreateClient makes are 47 long.
const MaxClientSecretLen = 72

// WellFormedClientID reports whether id has the form of the ids CreateClient
// makes, a UUID in canonical lower-case form: no other id can exist, so
// others are refused without a lookup or a bcrypt comparison.
func WellFormedClientID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if ch != '-' {
				return false
			}
		case ch >= '0' && ch <= '9', ch >= 'a' && ch <= 'f':
		default:
			return false
		}
	}
	return true
}

// SecretGate rations the slow secret checks (bcrypt) of VerifyClient. It is
// asked before each one, and before the client is looked up, so that its
// answers tell nothing of which clients exist (an unknown client's dummy
// comparison costs the same). An error refuses the attempt and VerifyClient
// returns it as it is. Otherwise done is called once the attempt is over,
// with failed true when the credentials were wrong or the client unknown.
type SecretGate func() (done func(failed bool), err error)

type secretGateKey struct{}

// WithSecretGate makes VerifyClient (and Tokens.Issue) ask g before each
// bcrypt comparison made for this context.
func WithSecretGate(ctx context.Context, g SecretGate) context.Context {
	return context.WithValue(ctx, secretGateKey{}, g)
}

// VerifyClient checks a client's id and secret. It takes as long (a bcrypt
// comparison) whether or not a well-formed client id exists; an id or a
// secret that cannot be valid (see WellFormedClientID, MaxClientSecretLen) is
// refused at once. A SecretGate in ctx is asked before the comparison.
func (s *Service) VerifyClient(ctx context.Context, id, secret string) (Client, error) {
	return s.verifyClient(ctx, id, secret, nil)
}

// verifyClient is VerifyClient; a secret that vs remembers as verified for
// the client's current hash passes without bcrypt (and without the gate).
func (s *Service) verifyClient(ctx context.Context, id, secret string, vs *verifiedSecrets) (Client, error) {
	invalid := rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_client", "the client id or secret is not valid")
	if !WellFormedClientID(id) || secret == "" || len(secret) > MaxClientSecretLen {
		return Client{}, invalid
	}
	var c Client
	known, looked := false, false
	lookup := func() error {
		looked = true
		err := s.store.View(ctx, func(tx Tx) error {
			var err error
			c, err = tx.GetClient(id)
			return err
		})
		known = err == nil
		if err != nil && !rolegate.IsNotFound(err) {
			return err
		}
		return nil
	}
	if hash, ok := vs.verified(id, secret); ok {
		if err := lookup(); err != nil {
			return Client{}, err
		}
		if known && c.SecretHash == hash {
			return c, nil
		}
		vs.forget(id) // deleted, or another secret
	}
	failed := false
	if gate, _ := ctx.Value(secretGateKey{}).(SecretGate); gate != nil {
		done, err := gate()
		if err != nil {
			return Client{}, err
		}
		defer func() { done(failed) }()
	}
	if !looked {
		if err := lookup(); err != nil {
			return Client{}, err
		}
	}
	hash := []byte(c.SecretHash)
	if !known {
		hash = dummyHash
	}
	vs.counted()
	if bcrypt.CompareHashAndPassword(hash, []byte(secret)) != nil || !known {
		failed = true
		return Client{}, invalid
	}
	vs.remember(c, secret)
	return c, nil
}

// verifiedSecrets remembers, for the clients whose secret passed bcrypt, a
// keyed digest (HMAC-SHA-256 under a key of this process) of that secret and
// the bcrypt hash it matched, so that the same client presenting the same
// secret again costs a digest instead of a bcrypt comparison, and is not
// held back by the gate that rations bcrypt for failing callers. Secrets are
// 256 random bits, so a fast digest of them reveals nothing a bcrypt hash
// would hide. An entry counts only while the stored hash is the same: the
// client row is read on every attempt, so a deleted client is refused.
type verifiedSecrets struct {
	key    []byte
	byID   *lru.Cache[string, verifiedSecret]
	checks atomic.Uint64 // bcrypt comparisons made
}

type verifiedSecret struct {
	hash   string
	digest [sha256.Size]byte
}

// maxVerifiedSecrets bounds the clients remembered (least recently used go).
const maxVerifiedSecrets = 10000

func newVerifiedSecrets() *verifiedSecrets {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	c, err := lru.New[string, verifiedSecret](maxVerifiedSecrets)
	if err != nil {
		panic(err)
	}
	return &verifiedSecrets{key: key, byID: c}
}

func (v *verifiedSecrets) digest(secret string) (d [sha256.Size]byte) {
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte(secret))
	copy(d[:], m.Sum(nil))
	return d
}

// verified returns the bcrypt hash that secret matched when it was last
// verified for client id, if it was.
func (v *verifiedSecrets) verified(id, secret string) (string, bool) {
	if v == nil {
		return "", false
	}
	e, ok := v.byID.Get(id)
	if !ok {
		return "", false
	}
	d := v.digest(secret)
	return e.hash, hmac.Equal(e.digest[:], d[:])
}

func (v *verifiedSecrets) remember(c Client, secret string) {
	if v != nil {
		v.byID.Add(c.ID, verifiedSecret{hash: c.SecretHash, digest: v.digest(secret)})
	}
}

func (v *verifiedSecrets) forget(id string) {
	if v != nil {
		v.byID.Remove(id)
	}
}

func (v *verifiedSecrets) counted() {
	if v != nil {
		v.checks.Add(1)
	}
}

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
