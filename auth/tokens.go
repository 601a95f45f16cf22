package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
)

// TokenConfig configures the tokens Rolegate issues and accepts.
type TokenConfig struct {
	Issuer   string        // iss of issued tokens; "" means "rolegate"
	Audience string        // aud of issued tokens; "" means "rolegate"
	TTL      time.Duration // lifetime of issued tokens; 0 means 15 minutes
	Leeway   time.Duration // clock skew allowed on exp, nbf and iat; 0 means 30 s
	// External accepts tokens of an identity provider for users of entities.
	External *ExternalIdP
	// KeyEncryptionKey, when set, encrypts the signing keys kept in the
	// store; without it they are stored in plain.
	KeyEncryptionKey *KeyEncryptionKey
	Logger           *slog.Logger
	Now              func() time.Time
}

// ExternalIdP describes an identity provider's tokens: who signs them (Keys,
// usually its JWKS), with which algorithms, for whom, and which claims carry
// the user id and the entity.
type ExternalIdP struct {
	Issuer      string
	Audience    string
	Algorithms  []string // e.g. RS256, ES256; never "none"
	UserClaim   string   // "" means "sub"
	EntityClaim string   // "" means "entity_id"
	Keys        jwt.Keyfunc
}

// Tokens authenticates bearer tokens: the bootstrap admin token, the JWTs it
// issues to API clients (ES256, keys kept in the store), and the identity
// provider's JWTs. It implements the handlers' Authenticator.
//
// What a client's token may do is taken from the client's record, never
// from the token alone: its scopes are those of the record (a token claiming
// more gets no more), its entity is the record's, and a token bound to an
// entity holds only for the incarnation of the entity it was issued for, so
// that it dies with the entity even when the id is used again. Records and
// incarnations are remembered, so that a known client's request touches no
// database: they are asked of the store again in the background every
// clientRecheck, at once when another instance tells of a change of the
// entity, and dropped when this instance deletes them.
type Tokens struct {
	store Store[Tx]
	admin *Authenticator
	cfg   TokenConfig
	log   *slog.Logger

	keys       atomic.Pointer[keySet]
	reloadMu   sync.Mutex
	lastLoad   atomic.Int64 // cfg.Now of the last read of the key set, unix ns
	lastForced atomic.Int64 // the last read for an unknown kid
	reloading  atomic.Bool

	mu       sync.Mutex // guards gen and both memos (memo.go)
	gen      uint64     // bumped by every drop: a look-up begun before it is not remembered
	clients  *memo[Client]
	entities *memo[entityState]
	secrets  *verifiedSecrets // secrets that passed bcrypt (clients.go)
	verified *verifiedTokens  // tokens whose signature was verified (tokencache.go)
}

// entityState is what is remembered of an entity.
type entityState struct {
	incarnation string
	revision    int64
}

// keySet is the signing keys held: the current one signs, every one not yet
// dropped verifies.
type keySet struct {
	current *signingKey
	ordered []*signingKey // current first, then the most recently retired
	byKid   map[string]*signingKey
}

// clientRecheck is how long a client or an entity's incarnation is believed
// before the store is asked again, in the background; a client or entity
// deleted on this instance is dropped at once, one deleted on another
// within about this long (at once when a change notification tells of it).
const clientRecheck = 5 * time.Second

// keyReload is how often the key set is read again (a key rotated by
// `rolegate keys rotate` is picked up within it); a token naming a key not
// held reads it at once, at most every keyReloadForced.
const (
	keyReload       = time.Minute
	keyReloadForced = 10 * time.Second
)

// KeyReloadInterval is how soon running instances sign with a rotated key.
const KeyReloadInterval = keyReload

// RetiredKeyLifetime is how long after it was retired a signing key still
// verifies: the longest a token it signed lives (ttl, plus leeway; 0 means
// 30 s), plus the time an instance may take to notice the rotation.
func RetiredKeyLifetime(ttl, leeway time.Duration) time.Duration {
	if leeway <= 0 {
		leeway = 30 * time.Second
	}
	return ttl + leeway + keyReload
}

// Claims are the claims of the tokens Rolegate issues. Scope and EntityID
// inform the client; verification takes them from the client's record.
type Claims struct {
	jwt.RegisteredClaims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
	EntityID string `json:"entity_id,omitempty"`
	// Incarnation is that of EntityID when the token was issued.
	Incarnation string `json:"entity_incarnation,omitempty"`
}

// Events tells Tokens what to forget: clients and entities deleted on this
// instance, entities another instance changed. *policy.Service is one.
type Events interface {
	OnClientDeleted(fn func(id string))
	OnEntityDeleted(fn func(id string))
	OnEntityChange(fn func(entityID string, revision int64, exists bool))
}

// NewTokens loads the signing keys from the store, or generates and stores
// the first on the first start (see LoadSigningKeys).
func NewTokens[T Tx](ctx context.Context, st Store[T], svc Events, admin *Authenticator, cfg TokenConfig) (*Tokens, error) {
	store := narrow(st)
	if cfg.Issuer == "" {
		cfg.Issuer = "rolegate"
	}
	if cfg.Audience == "" {
		cfg.Audience = "rolegate"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Minute
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if x := cfg.External; x != nil {
		if x.Issuer == "" || x.Audience == "" || x.Keys == nil {
			return nil, errors.New("identity provider: issuer, audience and keys are required")
		}
		if x.Issuer == cfg.Issuer {
			return nil, errors.New("identity provider: its issuer must differ from Rolegate's own")
		}
		for _, a := range x.Algorithms {
			if a == "" || strings.EqualFold(a, "none") || strings.HasPrefix(a, "HS") {
				return nil, fmt.Errorf("identity provider: algorithm %q is not accepted", a)
			}
		}
		if len(x.Algorithms) == 0 {
			x.Algorithms = []string{"RS256", "ES256"}
		}
		if x.UserClaim == "" {
			x.UserClaim = "sub"
		}
		if x.EntityClaim == "" {
			x.EntityClaim = "entity_id"
		}
	}
	load, err := LoadSigningKeys(ctx, store, cfg.KeyEncryptionKey, cfg.Now())
	if err != nil {
		return nil, err
	}
	if load.Sealed {
		cfg.Logger.Info("signing keys stored in plain or under the previous key encryption key are now stored encrypted with the key encryption key",
			"key_encryption_key_id", cfg.KeyEncryptionKey.ID())
	}
	t := &Tokens{store: store, admin: admin, cfg: cfg, log: cfg.Logger, secrets: newVerifiedSecrets(), verified: newVerifiedTokens()}
	t.clients = newMemo(&t.mu, cfg.Now, t.lookUpClient)
	t.entities = newMemo(&t.mu, cfg.Now, t.lookUpEntity)
	t.setKeys(load.keys)
	t.lastLoad.Store(cfg.Now().UnixNano())
	svc.OnClientDeleted(func(id string) {
		t.mu.Lock()
		t.forgetClientLocked(id)
		t.mu.Unlock()
		t.secrets.forget(id)
	})
	svc.OnEntityDeleted(func(id string) {
		t.mu.Lock()
		t.forgetEntityLocked(id)
		t.mu.Unlock()
	})
	svc.OnEntityChange(t.entityChanged)
	return t, nil
}

// dropAfter is how long after it was retired a key still verifies: the
// longest a token it signed lives, plus the time an instance may take to
// notice the rotation.
func (t *Tokens) dropAfter() time.Duration { return RetiredKeyLifetime(t.cfg.TTL, t.cfg.Leeway) }

func (t *Tokens) setKeys(keys []signingKey) {
	ks := &keySet{byKid: map[string]*signingKey{}}
	for i := range keys {
		k := &keys[i]
		ks.byKid[k.kid] = k
		ks.ordered = append(ks.ordered, k)
		if k.retired.IsZero() {
			ks.current = k
		}
	}
	sort.SliceStable(ks.ordered, func(i, j int) bool {
		a, b := ks.ordered[i], ks.ordered[j]
		if a.retired.IsZero() != b.retired.IsZero() {
			return a.retired.IsZero()
		}
		return a.retired.After(b.retired)
	})
	t.keys.Store(ks)
}

// maybeReload reads the key set again in the background once keyReload has
// passed since the last read.
func (t *Tokens) maybeReload() {
	if t.cfg.Now().Sub(time.Unix(0, t.lastLoad.Load())) < keyReload || !t.reloading.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer t.reloading.Store(false)
		t.reload(false)
	}()
}

// reload reads the key set from the store. forced (a token names a key not
// held) reads at most every keyReloadForced. A key set that cannot be read
// leaves the keys held as they are.
func (t *Tokens) reload(forced bool) {
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	now := t.cfg.Now()
	if forced {
		if last := t.lastForced.Load(); last != 0 && now.Sub(time.Unix(0, last)) < keyReloadForced {
			return
		}
		t.lastForced.Store(now.UnixNano())
	} else if now.Sub(time.Unix(0, t.lastLoad.Load())) < keyReload {
		return
	}
	t.lastLoad.Store(now.UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	raw, err := readKeySetting(ctx, t.store)
	var set storedKeySet
	if err == nil {
		set, err = parseKeySet(raw)
	}
	var keys []signingKey
	if err == nil {
		keys, _, err = set.open(t.cfg.KeyEncryptionKey)
	}
	if err != nil {
		t.log.Warn("reading the signing keys again failed; the keys held are kept", "error", err)
		return
	}
	t.setKeys(keys)
}

// usable returns the key named kid while it may verify.
func (t *Tokens) usable(kid string) *signingKey {
	k := t.keys.Load().byKid[kid]
	if k == nil || (!k.retired.IsZero() && t.cfg.Now().After(k.retired.Add(t.dropAfter()))) {
		return nil
	}
	return k
}

// verifyingKey returns the public key a token's kid names, reading the key
// set again when it names one not held (rotated by another process).
func (t *Tokens) verifyingKey(tok *jwt.Token) (any, error) {
	t.maybeReload()
	kid, _ := tok.Header["kid"].(string)
	k := t.usable(kid)
	if k == nil && kid != "" && len(kid) <= 64 && t.keys.Load().byKid[kid] == nil {
		t.reload(true)
		k = t.usable(kid)
	}
	if k == nil {
		return nil, errors.New("unknown key")
	}
	return &k.priv.PublicKey, nil
}

// Issue checks a client's credentials and returns a token for it. bindTo,
// when set, binds the token to that entity (a client bound elsewhere gets
// 401, as if its credentials were wrong for this account; so does an entity
// that does not exist). A client that presents the secret it last got a
// token with on this instance is checked without bcrypt (see
// verifiedSecrets); other attempts ask ctx's SecretGate before bcrypt (see
// VerifyClient).
func (t *Tokens) Issue(ctx context.Context, clientID, secret, bindTo string) (string, time.Duration, error) {
	c, err := verifyClient(ctx, t.store, clientID, secret, t.secrets)
	if err != nil {
		return "", 0, err
	}
	badClient := rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_client", "the client id or secret is not valid")
	entity := c.EntityID
	if bindTo != "" {
		if entity != "" && entity != bindTo {
			return "", 0, badClient
		}
		entity = bindTo
	}
	var inc string
	if entity != "" {
		var ent rolegate.Entity
		err := t.store.View(ctx, func(tx Tx) error {
			var err error
			ent, err = tx.GetEntity(entity)
			return err
		})
		if rolegate.IsNotFound(err) {
			return "", 0, badClient
		}
		if err != nil {
			return "", 0, err
		}
		if c.EntityID != "" && c.EntityIncarnation != ent.Incarnation {
			return "", 0, badClient // a client of an entity deleted since
		}
		inc = ent.Incarnation
		t.rememberEntity(entity, ent)
	}
	// Issuing reads the store anyway: a key set older than keyReload is read
	// again first, so that no token is signed with a key retired long ago.
	t.reload(false)
	key := t.keys.Load().current
	now := t.cfg.Now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: t.cfg.Issuer, Subject: "client:" + c.ID,
			Audience: jwt.ClaimStrings{t.cfg.Audience}, ExpiresAt: jwt.NewNumericDate(now.Add(t.cfg.TTL)),
			NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString()},
		Scope: strings.Join(c.Scopes, " "), ClientID: c.ID, EntityID: entity, Incarnation: inc,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = key.kid
	s, err := tok.SignedString(key.priv)
	if err != nil {
		return "", 0, err
	}
	t.rememberClient(c)
	return s, t.cfg.TTL, nil
}

// SecretChecks is the number of bcrypt comparisons Issue has made.
func (t *Tokens) SecretChecks() uint64 { return t.secrets.checks.Load() }

// JWKS is the public key set of the tokens Rolegate issues: the current key
// and those retired recently enough that tokens they signed may still live.
func (t *Tokens) JWKS() []byte {
	t.maybeReload()
	pad := func(b []byte) string {
		out := make([]byte, 32)
		copy(out[32-len(b):], b)
		return base64.RawURLEncoding.EncodeToString(out)
	}
	keys := []map[string]string{}
	for _, k := range t.keys.Load().ordered {
		if t.usable(k.kid) == nil {
			continue
		}
		pub := k.priv.PublicKey
		keys = append(keys, map[string]string{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": k.kid,
			"x": pad(pub.X.Bytes()), "y": pad(pub.Y.Bytes())})
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

func invalidToken(reason string) error {
	e := rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_token", "the bearer token is not valid")
	e.Err = errors.New(reason)
	return e
}

// Authenticate returns who a bearer token stands for. Algorithms are pinned
// per issuer (ES256 for Rolegate's own, the configured ones for the identity
// provider's; never none or HMAC), exp is required, and exp, nbf and iat are
// honoured with the configured leeway. A token verified before is not
// verified again while it may be believed (tokencache.go).
func (t *Tokens) Authenticate(token string) (Actor, error) {
	if strings.Count(token, ".") != 2 {
		return t.admin.Authenticate(token)
	}
	k := tokenKey(token)
	if a, ok, err := t.remembered(k); ok {
		return a, err
	}
	var peek jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &peek); err != nil {
		return Actor{}, invalidToken("malformed")
	}
	switch {
	case peek.Issuer == t.cfg.Issuer:
		return t.own(k, token)
	case t.cfg.External != nil && peek.Issuer == t.cfg.External.Issuer:
		return t.external(k, token)
	}
	return Actor{}, invalidToken("unknown issuer")
}

func (t *Tokens) own(k [32]byte, token string) (Actor, error) {
	var c Claims
	var kid string
	var key any
	p := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(t.cfg.Issuer),
		jwt.WithAudience(t.cfg.Audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(t.cfg.Leeway), jwt.WithTimeFunc(t.cfg.Now), jwt.WithStrictDecoding())
	t.verified.checks.Add(1)
	_, err := p.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		kid, _ = tok.Header["kid"].(string)
		var err error
		key, err = t.verifyingKey(tok)
		return key, err
	})
	if err != nil {
		return Actor{}, invalidToken(err.Error())
	}
	if c.ClientID == "" || c.Subject != "client:"+c.ClientID {
		return Actor{}, invalidToken("no client")
	}
	nbf, exp := times(&c)
	t.verified.put(k, token, &verifiedToken{own: &c, kid: kid, key: key, notBefore: nbf, expires: exp})
	return t.clientActor(&c)
}

// clientActor returns who the verified claims of a client's token stand
// for, from the client's record: checked on every request.
func (t *Tokens) clientActor(c *Claims) (Actor, error) {
	// Who the client is and what it may do come from its record.
	rec, ok := t.client(c.ClientID)
	if !ok {
		return Actor{}, invalidToken("client deleted or unknown")
	}
	entity := rec.EntityID
	if entity != "" {
		if c.EntityID != entity || rec.EntityIncarnation == "" || c.Incarnation != rec.EntityIncarnation {
			return Actor{}, invalidToken("the token's entity is not the client's")
		}
	} else {
		entity = c.EntityID // a platform client's token bound to an account
	}
	if entity != "" {
		if !rolegate.ValidEntityID(entity) || c.Incarnation == "" {
			return Actor{}, invalidToken("entity without incarnation")
		}
		if inc, ok := t.incarnation(entity); !ok || inc != c.Incarnation {
			return Actor{}, invalidToken("the token's entity was deleted")
		}
	}
	claimed := strings.Fields(c.Scope)
	var scopes []string
	for _, s := range rec.Scopes {
		if validScopes[s] && slices.Contains(claimed, s) && !(s == ScopeAdmin && entity != "") {
			scopes = append(scopes, s)
		}
	}
	return Actor{ID: "client:" + rec.ID, EntityID: entity, ClientID: rec.ID, Scopes: scopes}, nil
}

func (t *Tokens) external(k [32]byte, token string) (Actor, error) {
	x := t.cfg.External
	claims := jwt.MapClaims{}
	var key any
	var header map[string]any
	p := jwt.NewParser(jwt.WithValidMethods(x.Algorithms), jwt.WithIssuer(x.Issuer), jwt.WithAudience(x.Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(t.cfg.Leeway), jwt.WithTimeFunc(t.cfg.Now), jwt.WithStrictDecoding())
	t.verified.checks.Add(1)
	_, err := p.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		header = tok.Header
		var err error
		key, err = x.Keys(tok)
		return key, err
	})
	if err != nil {
		return Actor{}, invalidToken(err.Error())
	}
	user, _ := claims[x.UserClaim].(string)
	entity, _ := claims[x.EntityClaim].(string)
	if !rolegate.ValidUserID(user) || !rolegate.ValidEntityID(entity) {
		return Actor{}, invalidToken("no user or entity claim")
	}
	a := externalActor(user, entity)
	nbf, exp := times(claims)
	t.verified.put(k, token, &verifiedToken{ext: &a, header: header, key: key, notBefore: nbf, expires: exp})
	return externalActor(user, entity), nil
}

// externalActor is who an identity provider's token stands for: a user of
// one entity.
func externalActor(user, entity string) Actor {
	return Actor{ID: "user:" + user, EntityID: entity, UserID: user, Scopes: []string{ScopeCheck, ScopeManage}}
}

// ---- what is remembered of clients and entities ----

func (t *Tokens) rememberClient(c Client) {
	t.mu.Lock()
	t.clients.put(c.ID, c)
	t.mu.Unlock()
}

func (t *Tokens) rememberEntity(id string, e rolegate.Entity) {
	t.mu.Lock()
	t.storeEntityLocked(id, entityState{incarnation: e.Incarnation, revision: e.Revision})
	t.mu.Unlock()
}

func (t *Tokens) storeEntityLocked(id string, e entityState) {
	if m, ok := t.entities.peek(id); ok && m.incarnation != e.incarnation {
		t.forgetEntityLocked(id) // made anew: its clients' records go too
	}
	t.entities.put(id, e)
}

// forgetClientLocked drops a client's record (t.mu held).
func (t *Tokens) forgetClientLocked(id string) {
	t.gen++
	t.clients.drop(id)
}

// forgetEntityLocked drops an entity's incarnation and the records of the
// clients bound to it (t.mu held).
func (t *Tokens) forgetEntityLocked(id string) {
	t.gen++
	t.entities.drop(id)
	t.clients.each(func(cid string, c Client) {
		if c.EntityID == id {
			t.clients.drop(cid)
		}
	})
}

// entityChanged hears of a change of an entity from the Syncer: another
// instance wrote it (it may also have deleted it or made it anew, or deleted
// one of its clients), or the sweep found it gone or made anew.
func (t *Tokens) entityChanged(id string, revision int64, exists bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.entities.peek(id)
	if !ok {
		return
	}
	if !exists || revision < m.revision {
		t.forgetEntityLocked(id)
		return
	}
	t.entities.recheck(id)
	t.clients.each(func(cid string, c Client) {
		if c.EntityID == id { // one may have been deleted
			t.clients.recheck(cid)
		}
	})
}

// client returns a client's record from memory, so that a request with a
// known client's token touches no database: when the memory is older than
// clientRecheck, the store is asked again in the background. Only a client
// this instance does not know is looked up before answering; when the store
// cannot say, its token is refused: never allow on error.
func (t *Tokens) client(id string) (Client, bool) { return t.clients.recall(id) }

// incarnation returns an entity's current incarnation from memory, as
// client does a client's record.
func (t *Tokens) incarnation(id string) (string, bool) {
	e, ok := t.entities.recall(id)
	return e.incarnation, ok
}

// lookUpClient asks the store for a client's record and remembers the
// answer. While the store cannot be reached, a record seen in the store less
// than clientOutageGrace ago is kept (checks keep answering through a
// database outage); nothing else is believed.
func (t *Tokens) lookUpClient(id string) (Client, bool) {
	return lookUp(t, t.clients, id, func(tx Tx) (Client, error) { return tx.GetClient(id) },
		func(c Client) { t.clients.put(id, c) }, func() { t.forgetClientLocked(id) })
}

// lookUpEntity asks the store for an entity's incarnation, as lookUpClient
// does for a client.
func (t *Tokens) lookUpEntity(id string) (entityState, bool) {
	return lookUp(t, t.entities, id, func(tx Tx) (entityState, error) {
		e, err := tx.GetEntity(id)
		return entityState{incarnation: e.Incarnation, revision: e.Revision}, err
	}, func(e entityState) { t.storeEntityLocked(id, e) }, func() { t.forgetEntityLocked(id) })
}

// lookUp reads key's value from the store and remembers it with keep (t.mu
// held), unless something was dropped meanwhile; a key the store does not
// hold is dropped with gone (t.mu held); when the store cannot answer, m
// says what is still believed.
func lookUp[V any](t *Tokens, m *memo[V], key string, read func(Tx) (V, error), keep func(V), gone func()) (V, bool) {
	t.mu.Lock()
	gen := t.gen
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var v V
	err := t.store.View(ctx, func(tx Tx) error {
		var err error
		v, err = read(tx)
		return err
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil:
		if t.gen == gen {
			keep(v)
		} else {
			// Something was dropped while this read ran: the read may
			// predate that, so it is not remembered, and neither is what
			// was remembered before it, which is older still (a re-check
			// prompted by an entity's re-creation, losing to the drop of
			// one of its clients, kept the old incarnation believed). The
			// next use asks the store.
			m.drop(key)
		}
		return v, true
	case rolegate.IsNotFound(err):
		gone()
		var zero V
		return zero, false
	}
	return m.unanswered(key)
}
