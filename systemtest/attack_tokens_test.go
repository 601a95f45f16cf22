package systemtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/api"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Attacks on the tokens Rolegate issues to API clients: a client that
// outlives its entity (hole 1) and a database read that gives the signing
// key (hole 6).

// clientToken gets a token with a client's credentials at path.
func (s *server) clientToken(path, id, secret string) (int, string) {
	s.t.Helper()
	st, _, out := s.tokenCall(path, "application/x-www-form-urlencoded", "grant_type=client_credentials", id, secret)
	tok, _ := out["access_token"].(string)
	return st, tok
}

// Hole 1: a client outlives its entity. The old tenant's client, bound to
// "acme", kept getting tokens, and its tokens kept working, once "acme" was
// deleted and made again for a new tenant: it read the new tenant's users.
func TestAttackClientOutlivesEntity(t *testing.T) {
	// The refused attempts below spend the token endpoints' failure budget
	// (slow bcrypt under -race); this test is not about that budget.
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_TOKEN_FAILURE_CPU": "1000"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "old tenant", "entity_id": "acme", "scopes": []string{"check", "manage"}})
	id, secret := cl.ClientID, cl.Secret
	st, old := s.clientToken("/v1/auth/token", id, secret)
	if st != 200 {
		t.Fatalf("token: %d", st)
	}
	if st, _, out := s.callToken(old, "GET", "/v1/entities/acme/users", nil); st != 200 {
		t.Fatalf("the old tenant reads its own users: %d %v", st, out)
	}

	// The old tenant leaves; the id is given to a new tenant.
	s.must(204, "DELETE", "/v1/entities/acme", nil)
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme", "name": "new tenant"})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "new-tenant-user", "email": "ceo@new.example"})

	// The old tenant's token...
	if st, _, out := s.callToken(old, "GET", "/v1/entities/acme/users", nil); st != 401 || errCode(out) != "invalid_token" {
		t.Fatalf("the old tenant's token reads the new tenant's users: %d %v", st, out)
	}
	if st, _, out := s.callToken(old, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "new-tenant-user",
		"object_type": "doc", "action": "read"}); st != 401 {
		t.Fatalf("the old tenant's token checks in the new tenant: %d %v", st, out)
	}
	// ...and its credentials are worth nothing.
	if st, _ := s.clientToken("/v1/auth/token", id, secret); st != 401 {
		t.Fatalf("the old tenant's client gets a token for the new acme: %d", st)
	}
	if out := s.must(404, "GET", "/v1/clients/"+id, nil); errCode(out) != "client_not_found" {
		t.Fatalf("the old tenant's client is still there: %v", out)
	}
	// The deletion of the client is logged with the entity's (whose audit log went with it).
	if !strings.Contains(s.output(), `"action":"client.delete"`) || !strings.Contains(s.output(), id) {
		t.Fatalf("the client's deletion is not logged:\n%s", s.output())
	}
	// The new tenant's own client works.
	nc := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "new tenant", "entity_id": "acme", "scopes": []string{"manage"}})
	st, fresh := s.clientToken("/v1/auth/token", nc.ClientID, nc.Secret)
	if st != 200 {
		t.Fatalf("the new tenant's client gets no token: %d", st)
	}
	if st, _, out := s.callToken(fresh, "GET", "/v1/entities/acme/users", nil); st != 200 {
		t.Fatalf("the new tenant's client: %d %v", st, out)
	}
}

// Hole 1, through Dintero's account token: a platform client's token bound
// to account T12345678 kept working for the account made again under that
// id.
func TestAttackDinteroAccountTokenOutlivesAccount(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "platform", "scopes": []string{"check", "manage"}})
	id, secret := cl.ClientID, cl.Secret
	st, old := s.clientToken("/v1/accounts/T12345678/auth/token", id, secret)
	if st != 200 {
		t.Fatalf("dintero token: %d", st)
	}
	if st, _, out := s.callToken(old, "GET", "/v1/entities/T12345678/users", nil); st != 200 {
		t.Fatalf("account token before: %d %v", st, out)
	}
	s.must(204, "DELETE", "/v1/entities/T12345678", nil)
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	if st, _, out := s.callToken(old, "GET", "/v1/entities/T12345678/users", nil); st != 401 {
		t.Fatalf("a token of the deleted account works for the account made again: %d %v", st, out)
	}
	if st, _, out := s.raw("GET", "/v1/accounts/T12345678/auth/roles", "", "Authorization", "Bearer "+old); st != 401 {
		t.Fatalf("the same through the Dintero facade: %d %v", st, out)
	}
	// A platform client is not bound to the account: it may get a new token for it.
	st, fresh := s.clientToken("/v1/accounts/T12345678/auth/token", id, secret)
	if st != 200 {
		t.Fatalf("new dintero token: %d", st)
	}
	if st, _, out := s.callToken(fresh, "GET", "/v1/entities/T12345678/users", nil); st != 200 {
		t.Fatalf("new account token: %d %v", st, out)
	}
	// No token for an account that does not exist.
	if st, _ := s.clientToken("/v1/accounts/T99999999/auth/token", id, secret); st != 401 {
		t.Fatalf("token for an account that does not exist: %d", st)
	}
}

// storedSigningKey reads the current signing key straight from the settings
// table, as someone with a copy of the database would: the PEM key of old,
// or the current key of the key set when it is stored in plain.
func storedSigningKey(t *testing.T, dbURL string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	raw := settingValue(t, dbURL, "jwt_signing_key")
	p := raw
	if !strings.HasPrefix(raw, "-----BEGIN") {
		var set struct {
			Keys []struct {
				Kid       string  `json:"kid"`
				Key       string  `json:"key"`
				RetiredAt *string `json:"retired_at"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(raw), &set); err != nil {
			t.Fatalf("settings: %v", err)
		}
		for _, k := range set.Keys {
			if k.RetiredAt == nil {
				p = k.Key
			}
		}
	}
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		t.Fatalf("the stored key is not readable: %.40q", p)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := k.(*ecdsa.PrivateKey)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(der)
	return key, base64.RawURLEncoding.EncodeToString(sum[:12])
}

// settingValue reads one row of the settings table directly.
func settingValue(t *testing.T, dbURL, name string) string {
	t.Helper()
	store, err := adapters.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var v string
	if err := store.DB().Raw("SELECT value FROM settings WHERE name = ?", name).Scan(&v).Error; err != nil || v == "" {
		t.Fatalf("setting %s: %q %v", name, v, err)
	}
	return v
}

// forge signs claims with a key, as Rolegate would.
func forge(t *testing.T, key *ecdsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	base := jwt.MapClaims{"iss": "rolegate", "aud": []string{"rolegate"}, "exp": time.Now().Add(10 * time.Minute).Unix(),
		"iat": time.Now().Unix(), "nbf": time.Now().Unix(), "jti": uuid.NewString()}
	for k, v := range claims {
		base[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, base)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Hole 6: a database read is platform admin. With the signing key out of a
// backup (no key encryption key configured), the attacker mints a token
// claiming the admin scope for a client that holds only "check": the token's
// scopes are not believed, the client's record is. A token for a client that
// does not exist, or for an entity the client is not bound to, is refused.
func TestAttackForgedTokenFromDatabaseRead(t *testing.T) {
	db := sqliteURL(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "victim"})
	s.must(201, "POST", "/v1/entities/victim/users", map[string]any{"id": "u1"})
	checker := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "checker", "scopes": []string{"check"}}).ClientID
	bound := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "acme's", "entity_id": "acme", "scopes": []string{"check"}}).ClientID
	key, kid := storedSigningKey(t, db)

	asAdmin := forge(t, key, kid, jwt.MapClaims{"sub": "client:" + checker, "client_id": checker, "scope": "admin check manage"})
	if st, _, out := s.callToken(asAdmin, "GET", "/v1/entities", nil); st != 403 {
		t.Fatalf("a forged admin token of a check-only client lists entities: %d %v", st, out)
	}
	if st, _, out := s.callToken(asAdmin, "POST", "/v1/clients", map[string]any{"name": "backdoor", "scopes": []string{"admin"}}); st != 403 {
		t.Fatalf("a forged admin token makes an admin client: %d %v", st, out)
	}
	if st, _, out := s.callToken(asAdmin, "GET", "/v1/entities/victim/users", nil); st != 403 {
		t.Fatalf("a forged admin token reads users: %d %v", st, out)
	}
	// It is worth the client's own scope, no more.
	if st, _, out := s.callToken(asAdmin, "POST", "/v1/check", map[string]any{"entity_id": "victim", "user_id": "u1",
		"object_type": "doc", "action": "read"}); st != 200 {
		t.Fatalf("the client's own scope: %d %v", st, out)
	}
	for name, claims := range map[string]jwt.MapClaims{
		"a client that does not exist": {"sub": "client:" + uuid.NewString(), "scope": "admin"},
		"a bound client, unbound":      {"sub": "client:" + bound, "client_id": bound, "scope": "check manage"},
		"a bound client, elsewhere":    {"sub": "client:" + bound, "client_id": bound, "scope": "check", "entity_id": "victim"},
	} {
		if claims["client_id"] == nil {
			claims["client_id"] = strings.TrimPrefix(claims["sub"].(string), "client:")
		}
		tok := forge(t, key, kid, claims)
		if st, _, out := s.callToken(tok, "GET", "/v1/entities/victim/users", nil); st != 401 {
			t.Errorf("%s: %d %v", name, st, out)
		}
		if st, _, out := s.callToken(tok, "POST", "/v1/check", map[string]any{"entity_id": "victim", "user_id": "u1",
			"object_type": "doc", "action": "read"}); st != 401 {
			t.Errorf("%s, check: %d %v", name, st, out)
		}
	}
}

// testKEK is a key encryption key for tests.
const testKEK = "q3Xh3m8o7i5fQJtqgk0cE6gS9Rb1v5Qm2yq0V5Z7a4Y="

// Hole 6: with a key encryption key configured, the settings table holds no
// usable signing key: what a backup gives cannot sign a token.
func TestAttackStoredSigningKeyIsEncrypted(t *testing.T) {
	db := sqliteURL(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_KEY_ENCRYPTION_KEY": testKEK})
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "c", "scopes": []string{"check"}})
	if st, _ := s.clientToken("/v1/auth/token", cl.ClientID, cl.Secret); st != 200 {
		t.Fatalf("token: %d", st)
	}
	store, err := adapters.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var values []string
	if err := store.DB().Raw("SELECT value FROM settings").Scan(&values).Error; err != nil {
		t.Fatal(err)
	}
	raw := settingValue(t, db, "jwt_signing_key")
	for _, v := range values {
		if strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, "-----BEGIN") {
			t.Fatalf("a private key in plain in the settings table: %.60q", v)
		}
	}
	if block, _ := pem.Decode([]byte(raw)); block != nil {
		t.Fatal("the stored signing key is PEM")
	}
	if !strings.Contains(raw, `"rgenc1:`) {
		t.Fatalf("the stored signing key is not sealed: %.80q", raw)
	}
	if strings.Contains(s.output(), "no key encryption key") {
		t.Fatal("warned of a missing key encryption key that was given")
	}
}

// jwksKids fetches a server's JWKS and returns its kids and a key function.
func jwksKids(t *testing.T, s *server) ([]string, jwt.Keyfunc) {
	t.Helper()
	res, err := http.Get(s.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.Unmarshal(raw, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return kids, kf.Keyfunc
}

func kidOfToken(t *testing.T, tok string) string {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := p.Header["kid"].(string)
	return kid
}

// runKeys runs `rolegate keys <args>` and returns what it printed.
func runKeys(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut strings.Builder
	err := app.Run(context.Background(), append([]string{"keys"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return out.String() + errOut.String(), err
}

// Hole 6: a key that leaked can be replaced. After `rolegate keys rotate`
// tokens signed with the old key still verify (until they expire), the JWKS
// publishes both keys, and new tokens are signed with the new one, also by
// an instance that was running when the key was rotated.
func TestKeyRotation(t *testing.T) {
	db := sqliteURL(t)
	env := map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_KEY_ENCRYPTION_KEY": testKEK}
	a := startServer(t, env)
	a.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	cl := mustAs[api.APIClient](a, 201, "POST", "/v1/clients", map[string]any{"name": "c", "entity_id": "acme", "scopes": []string{"manage"}})
	id, secret := cl.ClientID, cl.Secret
	_, old := a.clientToken("/v1/auth/token", id, secret)
	oldKid := kidOfToken(t, old)

	out, err := runKeys(t, env, "rotate")
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "new current signing key") || !strings.Contains(out, "encrypted with key encryption key") {
		t.Fatalf("keys rotate said: %s", out)
	}
	list, err := runKeys(t, env, "list")
	if err != nil || strings.Count(list, "\n") != 2 || !strings.Contains(list, oldKid) || !strings.Contains(list, "current") {
		t.Fatalf("keys list: %v\n%s", err, list)
	}

	// An instance started after the rotation.
	b := startServer(t, env)
	_, fresh := b.clientToken("/v1/auth/token", id, secret)
	newKid := kidOfToken(t, fresh)
	if newKid == oldKid || newKid == "" {
		t.Fatalf("new tokens are signed with the old key %s", oldKid)
	}
	kids, kf := jwksKids(t, b)
	if len(kids) != 2 || kids[0] != newKid || kids[1] != oldKid {
		t.Fatalf("JWKS kids %v, want [%s %s]", kids, newKid, oldKid)
	}
	for _, tok := range []string{old, fresh} {
		if _, err := jwt.Parse(tok, kf, jwt.WithValidMethods([]string{"ES256"})); err != nil {
			t.Fatalf("a token does not verify with the published keys: %v", err)
		}
		for _, s := range []*server{a, b} {
			if st, _, out := s.callToken(tok, "GET", "/v1/entities/acme/users", nil); st != 200 {
				t.Fatalf("token of key %s on %s: %d %v", kidOfToken(t, tok), s.base, st, out)
			}
		}
	}
	// The instance that was running has picked the new key up (the token of
	// the new key made it read the key set again).
	if kids, _ := jwksKids(t, a); len(kids) != 2 || kids[0] != newKid {
		t.Fatalf("the running instance's JWKS: %v", kids)
	}
	if _, tok := a.clientToken("/v1/auth/token", id, secret); kidOfToken(t, tok) != newKid {
		t.Fatal("the running instance signs with the old key")
	}
	// Rotating without the key encryption key the keys were encrypted with fails, changing nothing.
	if out, err := runKeys(t, map[string]string{"ROLEGATE_DATABASE_URL": db}, "rotate"); err == nil || !strings.Contains(err.Error(), "ROLEGATE_KEY_ENCRYPTION_KEY") {
		t.Fatalf("rotate without the key encryption key: %v\n%s", err, out)
	}
	if again, _ := runKeys(t, env, "list"); again != list {
		t.Fatalf("a failed rotation changed the keys:\n%s\n%s", list, again)
	}
}

// Hole 1 on every instance: another instance, which had honoured the old
// tenant's token, refuses it once the entity is deleted and made again
// there (at once with Redis; within the recheck interval without).
func TestAttackClientOutlivesEntityOnAnotherInstance(t *testing.T) {
	db := postgresURL(t)
	env := map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_SWEEP_INTERVAL": "1h"}
	limit := 10 * time.Second
	if redis := os.Getenv("ROLEGATE_TEST_REDIS_URL"); redis != "" {
		env["ROLEGATE_REDIS_URL"] = redis
		env["ROLEGATE_REDIS_CHANNEL"] = "rolegate-test:" + uuid.NewString()
	}
	a := startProcess(t, env)
	b := startProcess(t, env)
	if env["ROLEGATE_REDIS_URL"] != "" {
		testkit.Eventually(t, 10*time.Second, "both subscribed", func() bool { return subscribed(a.server) && subscribed(b.server) })
	}
	a.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	cl := mustAs[api.APIClient](a.server, 201, "POST", "/v1/clients", map[string]any{"name": "old tenant", "entity_id": "T12345678", "scopes": []string{"manage"}})
	_, old := a.clientToken("/v1/auth/token", cl.ClientID, cl.Secret)
	platform := mustAs[api.APIClient](a.server, 201, "POST", "/v1/clients", map[string]any{"name": "platform", "scopes": []string{"manage"}})
	_, account := a.clientToken("/v1/accounts/T12345678/auth/token", platform.ClientID, platform.Secret)
	for _, tok := range []string{old, account} {
		if st, _, out := b.callToken(tok, "GET", "/v1/entities/T12345678/users", nil); st != 200 {
			t.Fatalf("the other instance before: %d %v", st, out)
		}
	}

	a.must(204, "DELETE", "/v1/entities/T12345678", nil)
	a.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	for name, tok := range map[string]string{"bound client": old, "account token": account} {
		took := testkit.Eventually(t, limit, name+"'s old token refused by the other instance", func() bool {
			st, _, _ := b.callToken(tok, "GET", "/v1/entities/T12345678/users", nil)
			return st == 401
		})
		t.Logf("%s: refused by the other instance after %v", name, took)
	}
	// And a client deleted on one instance is refused by the other.
	other := mustAs[api.APIClient](a.server, 201, "POST", "/v1/clients", map[string]any{"name": "short-lived", "entity_id": "T12345678", "scopes": []string{"manage"}})
	_, tok := a.clientToken("/v1/auth/token", other.ClientID, other.Secret)
	if st, _, out := b.callToken(tok, "GET", "/v1/entities/T12345678/users", nil); st != 200 {
		t.Fatalf("%d %v", st, out)
	}
	a.must(204, "DELETE", fmt.Sprintf("/v1/clients/%s", other.ClientID), nil)
	took := testkit.Eventually(t, limit, "a deleted client's token refused by the other instance", func() bool {
		st, _, _ := b.callToken(tok, "GET", "/v1/entities/T12345678/users", nil)
		return st == 401
	})
	t.Logf("deleted client: refused by the other instance after %v", took)
}
