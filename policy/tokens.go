package policy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// signingKeySetting holds Rolegate's token signing key (PKCS #8, PEM).
const signingKeySetting = "jwt_signing_key"

// TokenConfig configures the tokens Rolegate issues and accepts.
type TokenConfig struct {
	Issuer   string        // iss of issued tokens; "" means "rolegate"
	Audience string        // aud of issued tokens; "" means "rolegate"
	TTL      time.Duration // lifetime of issued tokens; 0 means 15 minutes
	Leeway   time.Duration // clock skew allowed on exp, nbf and iat; 0 means 30 s
	// External accepts tokens of an identity provider for users of entities.
	External *ExternalIdP
	Now      func() time.Time
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
// issues to API clients (ES256, key kept in the store), and the identity
// provider's JWTs. It implements the handlers' Authenticator.
type Tokens struct {
	svc   *Service
	admin *Authenticator
	cfg   TokenConfig
	key   *ecdsa.PrivateKey
	kid   string

	mu         sync.Mutex
	clients    map[string]time.Time // client id -> when it was last seen to exist
	rechecking map[string]bool      // client ids being asked about now
	secrets    *verifiedSecrets     // secrets that passed bcrypt (clients.go)
}

// clientRecheck is how long a client is believed to exist before the store is
// asked again, in the background; a client deleted on this instance is
// dropped at once, one deleted on another within about this long.
const clientRecheck = 5 * time.Second

// Claims are the claims of the tokens Rolegate issues.
type Claims struct {
	jwt.RegisteredClaims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
	EntityID string `json:"entity_id,omitempty"`
}

// NewTokens loads the signing key from the store, or generates and stores it
// on the first start.
func NewTokens(ctx context.Context, store Store, svc *Service, admin *Authenticator, cfg TokenConfig) (*Tokens, error) {
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
	key, err := signingKey(ctx, store)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	t := &Tokens{svc: svc, admin: admin, cfg: cfg, key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:12]),
		clients: map[string]time.Time{}, rechecking: map[string]bool{}, secrets: newVerifiedSecrets()}
	svc.OnClientDeleted(func(id string) {
		t.mu.Lock()
		delete(t.clients, id)
		t.mu.Unlock()
		t.secrets.forget(id)
	})
	return t, nil
}

func signingKey(ctx context.Context, store Store) (*ecdsa.PrivateKey, error) {
	var stored string
	err := store.View(ctx, func(tx Tx) error {
		var err error
		stored, err = tx.GetSetting(signingKeySetting)
		return err
	})
	if err == nil {
		block, _ := pem.Decode([]byte(stored))
		if block == nil {
			return nil, errors.New("stored signing key is not PEM")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("stored signing key: %w", err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New("stored signing key is not ECDSA")
		}
		return ek, nil
	}
	if !isNotFound(err) {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	err = store.Update(ctx, func(tx Tx) error { return tx.PutSetting(signingKeySetting, string(p)) })
	if errors.Is(err, ErrDuplicate) {
		return signingKey(ctx, store) // another instance made it first
	}
	return k, err
}

// Issue checks a client's credentials and returns a token for it. bindTo,
// when set, binds the token to that entity (a client bound elsewhere gets
// 401, as if its credentials were wrong for this account). A client that
// presents the secret it last got a token with on this instance is checked
// without bcrypt (see verifiedSecrets); other attempts ask ctx's SecretGate
// before bcrypt (see VerifyClient).
func (t *Tokens) Issue(ctx context.Context, clientID, secret, bindTo string) (string, time.Duration, error) {
	c, err := t.svc.verifyClient(ctx, clientID, secret, t.secrets)
	if err != nil {
		return "", 0, err
	}
	entity := c.EntityID
	if bindTo != "" {
		if entity != "" && entity != bindTo {
			return "", 0, Errorf(KindUnauthenticated, "invalid_client", "the client id or secret is not valid")
		}
		entity = bindTo
	}
	now := t.cfg.Now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: t.cfg.Issuer, Subject: "client:" + c.ID,
			Audience: jwt.ClaimStrings{t.cfg.Audience}, ExpiresAt: jwt.NewNumericDate(now.Add(t.cfg.TTL)),
			NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString()},
		Scope: strings.Join(c.Scopes, " "), ClientID: c.ID, EntityID: entity,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = t.kid
	s, err := tok.SignedString(t.key)
	if err != nil {
		return "", 0, err
	}
	t.remember(c.ID)
	return s, t.cfg.TTL, nil
}

// SecretChecks is the number of bcrypt comparisons Issue has made.
func (t *Tokens) SecretChecks() uint64 { return t.secrets.checks.Load() }

// JWKS is the public key set of the tokens Rolegate issues.
func (t *Tokens) JWKS() []byte {
	pub := t.key.PublicKey
	pad := func(b []byte) string {
		out := make([]byte, 32)
		copy(out[32-len(b):], b)
		return base64.RawURLEncoding.EncodeToString(out)
	}
	set := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": t.kid,
		"x": pad(pub.X.Bytes()), "y": pad(pub.Y.Bytes()),
	}}}
	b, _ := json.Marshal(set)
	return b
}

func invalidToken(reason string) error {
	e := Errorf(KindUnauthenticated, "invalid_token", "the bearer token is not valid")
	e.Err = errors.New(reason)
	return e
}

// Authenticate returns who a bearer token stands for. Algorithms are pinned
// per issuer (ES256 for Rolegate's own, the configured ones for the identity
// provider's; never none or HMAC), exp is required, and exp, nbf and iat are
// honoured with the configured leeway.
func (t *Tokens) Authenticate(token string) (Actor, error) {
	if strings.Count(token, ".") != 2 {
		return t.admin.Authenticate(token)
	}
	var peek jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &peek); err != nil {
		return Actor{}, invalidToken("malformed")
	}
	switch {
	case peek.Issuer == t.cfg.Issuer:
		return t.own(token)
	case t.cfg.External != nil && peek.Issuer == t.cfg.External.Issuer:
		return t.external(token)
	}
	return Actor{}, invalidToken("unknown issuer")
}

func (t *Tokens) own(token string) (Actor, error) {
	var c Claims
	p := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(t.cfg.Issuer),
		jwt.WithAudience(t.cfg.Audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(t.cfg.Leeway), jwt.WithTimeFunc(t.cfg.Now), jwt.WithStrictDecoding())
	_, err := p.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		if kid, _ := tok.Header["kid"].(string); kid != t.kid {
			return nil, errors.New("unknown key")
		}
		return &t.key.PublicKey, nil
	})
	if err != nil {
		return Actor{}, invalidToken(err.Error())
	}
	if c.ClientID == "" || c.Subject != "client:"+c.ClientID {
		return Actor{}, invalidToken("no client")
	}
	if !t.clientExists(c.ClientID) {
		return Actor{}, invalidToken("client deleted")
	}
	var scopes []string
	for _, s := range strings.Fields(c.Scope) {
		if validScopes[s] && !(s == ScopeAdmin && c.EntityID != "") {
			scopes = append(scopes, s)
		}
	}
	return Actor{ID: c.Subject, EntityID: c.EntityID, ClientID: c.ClientID, Scopes: scopes}, nil
}

func (t *Tokens) external(token string) (Actor, error) {
	x := t.cfg.External
	claims := jwt.MapClaims{}
	p := jwt.NewParser(jwt.WithValidMethods(x.Algorithms), jwt.WithIssuer(x.Issuer), jwt.WithAudience(x.Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(t.cfg.Leeway), jwt.WithTimeFunc(t.cfg.Now), jwt.WithStrictDecoding())
	if _, err := p.ParseWithClaims(token, claims, x.Keys); err != nil {
		return Actor{}, invalidToken(err.Error())
	}
	user, _ := claims[x.UserClaim].(string)
	entity, _ := claims[x.EntityClaim].(string)
	if !ValidUserID(user) || !ValidEntityID(entity) {
		return Actor{}, invalidToken("no user or entity claim")
	}
	return Actor{ID: "user:" + user, EntityID: entity, UserID: user, Scopes: []string{ScopeCheck, ScopeManage}}, nil
}

func (t *Tokens) remember(id string) {
	t.mu.Lock()
	t.clients[id] = t.cfg.Now()
	t.mu.Unlock()
}

// clientExists answers from a memory of the clients seen to exist, so that a
// request with a known client's token touches no database: when the memory
// is older than clientRecheck, the store is asked again in the background.
// Only a client this instance has never seen is looked up before answering;
// when the store cannot say, its token is refused: never allow on error.
func (t *Tokens) clientExists(id string) bool {
	t.mu.Lock()
	seen, known := t.clients[id]
	stale := known && t.cfg.Now().Sub(seen) >= clientRecheck && !t.rechecking[id]
	if stale {
		t.rechecking[id] = true
	}
	t.mu.Unlock()
	if known {
		if stale {
			go func() {
				t.lookUpClient(id)
				t.mu.Lock()
				delete(t.rechecking, id)
				t.mu.Unlock()
			}()
		}
		return true
	}
	return t.lookUpClient(id)
}

// lookUpClient asks the store whether a client exists and remembers the
// answer (Service.ClientExists keeps known clients through an outage).
func (t *Tokens) lookUpClient(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	exists, err := t.svc.ClientExists(ctx, id)
	if err != nil || !exists {
		t.mu.Lock()
		delete(t.clients, id)
		t.mu.Unlock()
		return false
	}
	t.remember(id)
	return true
}
