package systemtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/api"
)

// tokenCall posts to a token endpoint and decodes the JSON answer.
func (s *server) tokenCall(path, contentType, body string, basic ...string) (int, http.Header, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	if len(basic) == 4 {
		req.Header.Set(basic[2], basic[3])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, res.Header, out
}

func TestClientsAndTokens(t *testing.T) {
	// A failed attempt spends the global budget of bcrypt time by its
	// duration, seconds under the race detector, and a client not yet
	// verified waits while it is spent: out of the way here (the budget is
	// tested in attack_token_endpoint_test.go).
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_TOKEN_FAILURE_CPU": "1000"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "other"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "reader", "permissions": map[string]any{
		"objects": []any{map[string]any{"object_type": "doc", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u1", "role_ids": []string{role.ID}})

	// A client bound to acme; its secret is shown once.
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "billing", "entity_id": "acme", "scopes": []string{"check", "manage"}})
	id, secret := cl.ClientID, cl.Secret
	if id == "" || !strings.HasPrefix(secret, "rgs_") || cl.EntityID == nil || *cl.EntityID != "acme" {
		t.Fatalf("client: %v", cl)
	}
	// A map: APIClient would not tell an absent secret from an empty one.
	got := s.must(200, "GET", "/v1/clients/"+id, nil)
	if _, shown := got["client_secret"]; shown || got["name"] != "billing" {
		t.Fatalf("get client shows: %v", got)
	}
	if list := mustAs[api.Page[api.APIClient]](s, 200, "GET", "/v1/clients", nil); len(list.Data) != 1 {
		t.Fatalf("clients: %v", list)
	}
	if out := s.must(422, "POST", "/v1/clients", map[string]any{"name": "x", "entity_id": "acme", "scopes": []string{"admin"}}); errCode(out) != "invalid_scope" {
		t.Fatalf("bound admin client: %v", out)
	}
	if out := s.must(422, "POST", "/v1/clients", map[string]any{"name": "x", "scopes": []string{"root"}}); errCode(out) != "invalid_scope" {
		t.Fatalf("unknown scope: %v", out)
	}
	if strings.Contains(s.output(), secret) {
		t.Fatal("the client secret was logged")
	}

	// Tokens: HTTP Basic with a form, the body as JSON, Monite's and Dintero's endpoints.
	st, h, tok := s.tokenCall("/v1/auth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", id, secret)
	if st != 200 || tok["token_type"] != "Bearer" || tok["expires_in"].(float64) != 900 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %d %v", st, tok)
	}
	access := tok["access_token"].(string)
	st, _, tok2 := s.tokenCall("/v1/auth/token", "application/json", `{"grant_type":"client_credentials","client_id":"`+id+`","client_secret":"`+secret+`"}`)
	if st != 200 || tok2["access_token"] == "" {
		t.Fatalf("json token: %d %v", st, tok2)
	}
	st, h, _ = s.tokenCall("/v1/auth/token", "application/json", `{"grant_type":"client_credentials","client_id":"`+id+`","client_secret":"`+secret+`"}`, "", "", "x-monite-version", "2024-05-25")
	if st != 200 || h.Get("x-monite-version") != "2024-05-25" {
		t.Fatalf("monite token: %d %v", st, h)
	}
	if st, _, out := s.tokenCall("/v1/accounts/T12345678/auth/token", "application/json", `{"grant_type":"client_credentials","audience":"https://api.dintero.com/v1/accounts/T12345678"}`, id, secret); st != 401 || out["error"] != "invalid_client" {
		t.Fatalf("dintero token for another account: %d %v", st, out)
	}
	for _, c := range []struct {
		body  string
		basic []string
		code  string
		st    int
	}{
		{"grant_type=password", []string{id, secret}, "unsupported_grant_type", 400},
		{"grant_type=client_credentials", []string{id, "wrong"}, "invalid_client", 401},
		{"grant_type=client_credentials", []string{"nope", secret}, "invalid_client", 401},
		{"grant_type=client_credentials", nil, "invalid_client", 401},
	} {
		st, _, out := s.tokenCall("/v1/auth/token", "application/x-www-form-urlencoded", c.body, c.basic...)
		if st != c.st || out["error"] != c.code {
			t.Errorf("%s %v: %d %v", c.body, c.basic, st, out)
		}
	}

	// The token is an ES256 JWT verifiable with the published key set.
	res, err := http.Get(s.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&raw)
	res.Body.Close()
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(access, kf.Keyfunc, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify with the JWKS: %v", err)
	}
	claims := parsed.Claims.(jwt.MapClaims)
	if claims["entity_id"] != "acme" || claims["scope"] != "check manage" || claims["sub"] != "client:"+id {
		t.Fatalf("claims: %v", claims)
	}

	// What the token may do: its entity only, its scopes only.
	use := func(token, method, path string, body any) (int, map[string]any) {
		st, _, out := s.callToken(token, method, path, body)
		return st, out
	}
	check := map[string]any{"entity_id": "acme", "user_id": "u1", "object_type": "doc", "action": "read"}
	if st, out := use(access, "POST", "/v1/check", check); st != 200 || out["allowed"] != true {
		t.Fatalf("check: %d %v", st, out)
	}
	if st, _ := use(access, "GET", "/v1/entities/acme/roles", nil); st != 200 {
		t.Fatalf("roles: %d", st)
	}
	if st, _, _ := s.callToken("", "GET", "/v1/entities/acme/roles", nil, "Authorization", "bearer "+access); st != 200 {
		t.Fatalf("lower-case bearer scheme: %d", st)
	}
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/v1/entities/other/roles", nil, 404},
		{"POST", "/v1/check", map[string]any{"entity_id": "other", "user_id": "u1", "object_type": "doc", "action": "read"}, 404},
		{"GET", "/v1/entities", nil, 403},
		{"POST", "/v1/entities", map[string]any{"id": "mine"}, 403},
		{"POST", "/v1/clients", map[string]any{"name": "x", "scopes": []string{"admin"}}, 403},
		{"DELETE", "/v1/entities/acme", nil, 403},
	} {
		if st, out := use(access, c.method, c.path, c.body); st != c.want {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, st, out, c.want)
		}
	}
	// A check-only client may not manage.
	chk := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "checker", "entity_id": "acme", "scopes": []string{"check"}})
	_, _, ctok := s.tokenCall("/v1/auth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", chk.ClientID, chk.Secret)
	checkOnly := ctok["access_token"].(string)
	if st, _ := use(checkOnly, "POST", "/v1/check", check); st != 200 {
		t.Fatalf("check-only check: %d", st)
	}
	if st, out := use(checkOnly, "POST", "/v1/entities/acme/roles", map[string]any{"name": "sneaky"}); st != 403 || errCode(out) != "insufficient_scope" {
		t.Fatalf("check-only manage: %d %v", st, out)
	}
	// Forged, altered and unsigned tokens are 401 with WWW-Authenticate: Bearer.
	parts := strings.Split(access, ".")
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	altered := strings.Replace(string(body), `"entity_id":"acme"`, `"entity_id":"other"`, 1)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(altered)) + "."
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hsTok, _ := hs.SignedString([]byte(raw)) // the public key set as an HMAC secret
	for name, bad := range map[string]string{
		"altered payload": parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(altered)) + "." + parts[2],
		"alg none":        none,
		"hs256 confusion": hsTok,
		"garbage":         "a.b.c",
		"truncated":       parts[0] + "." + parts[1],
	} {
		st, h, out := s.callToken(bad, "GET", "/v1/entities/acme/roles", nil)
		if st != 401 || errCode(out) != "invalid_token" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %v", name, st, out)
		}
	}

	// A deleted client's tokens stop working at once.
	s.must(204, "DELETE", "/v1/clients/"+id, nil)
	// Both changes are in acme's audit log, without the secret.
	events := mustAs[api.Page[api.AuditEvent]](s, 200, "GET", "/v1/entities/acme/audit-events?object_type=client", nil).Data
	var actions []string
	for _, ev := range events {
		if ev.ObjectID == id {
			actions = append(actions, ev.Action)
		}
		if b, _ := json.Marshal(ev); strings.Contains(string(b), secret) || strings.Contains(string(b), "$2a$") {
			t.Fatalf("audit event holds the secret or its hash: %s", b)
		}
	}
	if strings.Join(actions, ",") != "client.delete,client.create" {
		t.Fatalf("client audit events: %v", events)
	}
	if st, _ := use(access, "GET", "/v1/entities/acme/roles", nil); st != 401 {
		t.Fatalf("deleted client's token: %d", st)
	}
	if strings.Contains(s.output(), access) || strings.Contains(s.output(), secret) {
		t.Fatal("a token or secret was logged")
	}
}

// idp is a test identity provider: a JWKS endpoint and a signer.
type idp struct {
	key *ecdsa.PrivateKey
	srv *httptest.Server
}

func newIdP(t *testing.T) *idp {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key}
	pad := func(b []byte) string {
		out := make([]byte, 32)
		copy(out[32-len(b):], b)
		return base64.RawURLEncoding.EncodeToString(out)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "alg": "ES256",
		"use": "sig", "kid": "idp-1", "x": pad(key.PublicKey.X.Bytes()), "y": pad(key.PublicKey.Y.Bytes())}}})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) token(t *testing.T, claims jwt.MapClaims) string {
	base := jwt.MapClaims{"iss": "https://idp.example", "aud": "rolegate-api", "exp": time.Now().Add(time.Hour).Unix(),
		"iat": time.Now().Unix(), "sub": "alice", "tenant": "T100"}
	for k, v := range claims {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, base)
	tok.Header["kid"] = "idp-1"
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Users of an entity, with the identity provider's tokens, manage it as far
// as their own roles allow, checked by the engine on the reserved object
// types; nobody gives a right they do not hold.
func TestIdentityProviderUsers(t *testing.T) {
	p := newIdP(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_JWKS_URL": p.srv.URL,
		"ROLEGATE_JWT_ISSUER": "https://idp.example", "ROLEGATE_JWT_AUDIENCE": "rolegate-api", "ROLEGATE_JWT_ENTITY_CLAIM": "tenant",
		"ROLEGATE_JWT_ALGORITHMS": "ES256"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T100"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "other"})
	perms := func(pairs ...string) map[string]any {
		var objs []any
		for i := 0; i+2 < len(pairs)+1; i += 3 {
			objs = append(objs, map[string]any{"object_type": pairs[i], "actions": []any{map[string]any{"action_name": pairs[i+1], "permission": pairs[i+2]}}})
		}
		return map[string]any{"objects": objs}
	}
	admin := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "role admin", "permissions": perms(
		"role", "*", "allowed", "user", "*", "allowed", "doc", "read", "allowed")})
	viewer := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "viewer", "permissions": perms("role", "read", "allowed")})
	payer := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "payer", "permissions": perms("payable", "pay", "allowed")})
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "alice", "role_ids": []string{admin.ID}})
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "bob", "role_ids": []string{viewer.ID}})

	alice := p.token(t, nil)
	bob := p.token(t, jwt.MapClaims{"sub": "bob"})
	use := func(token, method, path string, body any) (int, map[string]any) {
		st, _, out := s.callToken(token, method, path, body)
		return st, out
	}
	if st, _ := use(bob, "GET", "/v1/entities/T100/roles", nil); st != 200 {
		t.Fatalf("bob reads roles: %d", st)
	}
	if st, out := use(bob, "POST", "/v1/entities/T100/roles", map[string]any{"name": "x"}); st != 403 {
		t.Fatalf("bob creates a role: %d %v", st, out)
	}
	if st, _ := use(bob, "GET", "/v1/entities/T100/users", nil); st != 403 {
		t.Fatalf("bob lists users: %d", st)
	}
	if st, out := use(alice, "POST", "/v1/entities/T100/roles", map[string]any{"name": "doc reader", "permissions": perms("doc", "read", "allowed")}); st != 201 {
		t.Fatalf("alice creates a role of rights she holds: %d %v", st, out)
	}
	for name, c := range map[string]struct {
		method, path string
		body         any
	}{
		"role with a right she lacks": {"POST", "/v1/entities/T100/roles", map[string]any{"name": "pay", "permissions": perms("payable", "pay", "allowed")}},
		"edit her own role into more": {"PATCH", "/v1/entities/T100/roles/" + admin.ID, map[string]any{"permissions": perms("*", "*", "allowed")}},
		"give herself the payer role": {"PUT", "/v1/entities/T100/users/alice/roles/" + payer.ID, nil},
		"give bob the payer role":     {"PATCH", "/v1/entities/T100/users/bob", map[string]any{"role_ids": []string{payer.ID}}},
	} {
		if st, out := use(alice, c.method, c.path, c.body); st != 403 || errCode(out) != "privilege_escalation" {
			t.Errorf("%s: %d %v", name, st, out)
		}
	}
	// Papershift's meta.permissions say what this caller may do to a role.
	metaEdit := func(token string) any {
		t.Helper()
		st, h, out := s.raw("GET", "/api/v1/roles/"+payer.ID, "", "Authorization", "Bearer "+token)
		if st != 200 || h.Get("Content-Type") != "application/vnd.api+json" {
			t.Fatalf("papershift role with a user token: %d %v", st, out)
		}
		return get(out, "data", "meta", "permissions", "actions", "edit")
	}
	if metaEdit(alice) != true || metaEdit(bob) != false {
		t.Fatalf("meta.permissions: alice %v, bob %v", metaEdit(alice), metaEdit(bob))
	}
	// The same through the Dintero facade: its 403 body, and bob keeps his roles.
	st, _, out := s.raw("PUT", "/v1/accounts/T100/management/users/bob", `{"roles":[{"id":"`+payer.ID+`"}]}`, "Authorization", "Bearer "+alice)
	if st != 403 || get(out, "error", "code") != "privilege_escalation" || get(out, "error", "message") == nil {
		t.Fatalf("dintero: alice gives bob the payer role: %d %v", st, out)
	}
	if roles := mustAs[api.User](s, 200, "GET", "/v1/entities/T100/users/bob", nil).Roles; len(roles) != 1 || roles[0].ID != viewer.ID {
		t.Fatalf("bob's roles changed: %v", roles)
	}
	if st, _ := use(alice, "GET", "/v1/entities/other/roles", nil); st != 404 {
		t.Fatalf("alice in another entity: %d", st)
	}
	if st, out := use(alice, "POST", "/v1/check", map[string]any{"entity_id": "T100", "user_id": "alice", "object_type": "payable", "action": "pay"}); st != 200 || out["allowed"] != false {
		t.Fatalf("alice checks herself: %d %v", st, out)
	}
	if d := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "T100", "user_id": "alice", "object_type": "payable", "action": "pay"}); d.Allowed {
		t.Fatal("alice escalated")
	}

	// Bad tokens of the identity provider.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrongKey := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://idp.example", "aud": "rolegate-api",
		"exp": time.Now().Add(time.Hour).Unix(), "sub": "alice", "tenant": "T100"})
	wrongKey.Header["kid"] = "idp-1"
	forged, _ := wrongKey.SignedString(other)
	for name, tok := range map[string]string{
		"expired":        p.token(t, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}),
		"not yet valid":  p.token(t, jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}),
		"no expiry":      p.token(t, jwt.MapClaims{"exp": nil}),
		"wrong audience": p.token(t, jwt.MapClaims{"aud": "someone-else"}),
		"wrong issuer":   p.token(t, jwt.MapClaims{"iss": "https://evil.example"}),
		"no entity":      p.token(t, jwt.MapClaims{"tenant": nil}),
		"other key":      forged,
	} {
		if st, out := use(tok, "GET", "/v1/entities/T100/roles", nil); st != 401 {
			t.Errorf("%s: %d %v", name, st, out)
		}
	}
	// Small clock skew is tolerated.
	if st, _ := use(p.token(t, jwt.MapClaims{"exp": time.Now().Add(-5 * time.Second).Unix()}), "GET", "/v1/entities/T100/roles", nil); st != 200 {
		t.Fatalf("5 s of skew: %d", st)
	}
}

// Guessing a client's secret is slowed down: past a burst of attempts the
// token endpoint answers 429 with Retry-After, and other clients that got a
// token before are not held back (failures spend budgets per address and
// for all callers, not per client id: a client not yet verified by this
// instance may wait while they are spent, see attack_token_endpoint_test.go).
func TestTokenGuessingIsLimited(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "victim", "scopes": []string{"check"}})
	other := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "other", "scopes": []string{"check"}})
	if st, _, out := s.tokenCall("/v1/auth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", other.ClientID, other.Secret); st != 200 {
		t.Fatalf("other client: %d %v", st, out)
	}
	// 30 guesses at once: the burst and the per-core bound refuse most.
	var mu sync.Mutex
	var wg sync.WaitGroup
	limited := 0
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, h, out := s.tokenCall("/v1/auth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", cl.ClientID, "guess")
			mu.Lock()
			defer mu.Unlock()
			switch st {
			case 401:
			case 429:
				limited++
				if h.Get("Retry-After") == "" || out["error"] == nil {
					t.Errorf("429 without Retry-After or error: %v %v", h, out)
				}
			default:
				t.Errorf("%d %v", st, out)
			}
		}()
	}
	wg.Wait()
	if limited == 0 {
		t.Fatal("30 quick guesses were never limited")
	}
	if st, _, out := s.tokenCall("/v1/auth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", other.ClientID, other.Secret); st != 200 {
		t.Fatalf("another client held back: %d %v", st, out)
	}
}
