package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
)

// fixedAuth maps tokens to callers.
type fixedAuth map[string]auth.Actor

func (f fixedAuth) Authenticate(token string) (auth.Actor, error) {
	if a, ok := f[token]; ok {
		return a, nil
	}
	return auth.Actor{}, rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_token", "the bearer token is not valid")
}

// publicRoutes answer without a token; platformRoutes are for platform
// administrators only (403 for a caller bound to an entity).
var (
	publicRoutes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "GET /.well-known/jwks.json": true, "GET /openapi.json": true, "POST /v1/auth/token": true, "POST /v1/accounts/:oid/auth/token": true,
		"GET /console": true, "GET /console/*asset": true} // the console: public files, no data
	platformRoutes = map[string]bool{"POST /v1/entities": true, "GET /v1/entities": true,
		"POST /v1/clients": true, "GET /v1/clients": true, "GET /v1/clients/:client": true, "DELETE /v1/clients/:client": true}
	// sharedRoutes hold nothing of any entity.
	sharedRoutes = map[string]bool{"GET /v1/object-types": true}
)

// TestEveryRouteIsolatesEntities walks every route the router registers,
// calling it about entity T123's objects with the token of a client bound to
// another entity that holds every scope an entity client may hold. Every
// route answers 404 (403 for platform routes), as if nothing of T123
// existed, and T123 is unchanged afterwards. A route added later is walked
// too: it must either isolate entities or be listed above on purpose.
func TestEveryRouteIsolatesEntities(t *testing.T) {
	svc, _ := testkit.Service(t)
	h := NewRouter(Deps{Service: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: fixedAuth{
		"admin": {ID: "admin", Scopes: []string{auth.ScopeAdmin}},
		"other": {ID: "client:other", EntityID: "T999", ClientID: "other", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}},
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()

	call := func(token, method, path, body string, headers ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	mustJSON := func(token, method, path, body string) map[string]any {
		t.Helper()
		st, out := call(token, method, path, body)
		if st >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, st, out)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(out), &m)
		return m
	}
	// T123 with a role, a user holding it, and T999, the caller's entity.
	mustJSON("admin", "POST", "/v1/entities", `{"id":"T123"}`)
	mustJSON("admin", "POST", "/v1/entities", `{"id":"T999"}`)
	role := mustJSON("admin", "POST", "/v1/entities/T123/roles", `{"name":"reader","permissions":{"objects":[{"object_type":"doc","actions":[{"action_name":"read","permission":"allowed"}]}]}}`)
	mustJSON("admin", "POST", "/v1/entities/T123/users", `{"id":"u1","role_ids":["`+role["id"].(string)+`"]}`)
	snapshot := func() string {
		var b bytes.Buffer
		for _, p := range []string{"/v1/entities/T123", "/v1/entities/T123/roles?status=all", "/v1/entities/T123/users?expand=roles"} {
			_, out := call("admin", "GET", p, "")
			b.WriteString(out)
		}
		return b.String()
	}
	before := snapshot()

	params := map[string]string{":entity": "T123", ":oid": "T123", ":role": role["id"].(string), ":user": "u1", ":client": "nope"}
	bodies := map[string]string{
		"/v1/check":       `{"entity_id":"T123","user_id":"u1","object_type":"doc","action":"read"}`,
		"/v1/check/batch": `{"checks":[{"entity_id":"T123","user_id":"u1","object_type":"doc","action":"read"}]}`,
	}
	routes := h.(*gin.Engine).Routes()
	sort.Slice(routes, func(i, j int) bool { return routes[i].Path+routes[i].Method < routes[j].Path+routes[j].Method })
	if len(routes) < 40 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		if publicRoutes[key] || strings.HasPrefix(r.Path, "/debug/pprof") {
			continue
		}
		path := r.Path
		for p, v := range params {
			path = strings.ReplaceAll(path, p, v)
		}
		body := bodies[r.Path]
		if body == "" && (r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH") {
			body = `{}`
		}
		headers := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "T123", "X-Entity-Id", "T123"}
		if strings.HasPrefix(path, "/api/") {
			headers = append(headers, "Content-Type", "application/vnd.api+json")
			if body == `{}` {
				body = `{"data":{"type":"role","attributes":{"name":"x"}}}`
			}
		}
		want := http.StatusNotFound
		if platformRoutes[key] {
			want = http.StatusForbidden
		}
		if sharedRoutes[key] {
			want = http.StatusOK
		}
		st, out := call("other", r.Method, path, body, headers...)
		if st != want {
			t.Errorf("%s (as %s): %d %s, want %d", key, path, st, out, want)
		}
		// Nothing leaks about T123's objects.
		if strings.Contains(out, role["id"].(string)) || strings.Contains(out, `"u1"`) || strings.Contains(out, "reader") {
			t.Errorf("%s leaks: %s", key, out)
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("T123 changed:\nbefore %s\nafter  %s", before, after)
	}
}

// An authenticator that returns a caller without a name never yields a
// request with every right: the service takes a nameless caller for an
// internal call.
func TestNamelessCallerIsRefused(t *testing.T) {
	h := NewRouter(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: fixedAuth{"nameless": {}}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/entities", nil)
	req.Header.Set("Authorization", "Bearer nameless")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("nameless caller: %d", res.StatusCode)
	}
}
