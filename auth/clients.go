package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/rolegate/rolegate"
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

// NewClient makes the client in asks for, created by createdBy at
// createdAt, and its secret: the client keeps only the secret's bcrypt hash,
// so this is the one time it is shown. It checks the scopes; the caller
// checks the name and stores the client.
func NewClient(in ClientInput, createdAt time.Time, createdBy string) (Client, string, error) {
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
	return Client{ID: uuid.NewString(), Name: in.Name, EntityID: in.EntityID, Scopes: in.Scopes,
		SecretHash: string(hash), CreatedAt: createdAt, CreatedBy: createdBy}, secret, nil
}

// MaxClientSecretLen bounds the client secrets worth checking: bcrypt reads
// only the first 72 bytes, and the secrets NewClient makes are 47 long.
const MaxClientSecretLen = 72

// WellFormedClientID reports whether id has the form of the ids NewClient
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
func VerifyClient[T Tx](ctx context.Context, store Store[T], id, secret string) (Client, error) {
	return verifyClient(ctx, narrow(store), id, secret, nil)
}

// verifyClient is VerifyClient; a secret that vs remembers as verified for
// the client's current hash passes without bcrypt (and without the gate).
func verifyClient(ctx context.Context, store Store[Tx], id, secret string, vs *verifiedSecrets) (Client, error) {
	invalid := rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_client", "the client id or secret is not valid")
	if !WellFormedClientID(id) || secret == "" || len(secret) > MaxClientSecretLen {
		return Client{}, invalid
	}
	var c Client
	known, looked := false, false
	lookup := func() error {
		looked = true
		err := store.View(ctx, func(tx Tx) error {
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

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("rolegate: no such client"), bcryptCost)
