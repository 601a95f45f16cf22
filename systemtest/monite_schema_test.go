package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// moniteSchema is the part of Monite's published OpenAPI document that covers
// roles, kept in testdata (its info.description names its sources).
type moniteSchema struct {
	t      *testing.T
	router routers.Router
	s      *server
	n      int // answers validated
}

func loadMoniteSchema(t *testing.T, s *server) *moniteSchema {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("../testdata/monite-roles.openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the kept schema is not valid OpenAPI: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &moniteSchema{t: t, router: router, s: s}
}

var moniteHeaders = map[string]string{"x-monite-version": "2024-05-25", "x-monite-entity-id": "T123",
	"Authorization": "Bearer " + testToken}

// do sends a request to the Monite-style facade, validates the answer
// against the schema (status included: a status the schema does not list
// fails) and returns status and body.
func (m *moniteSchema) do(method, path, body string, drop ...string) (int, []byte) {
	m.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, m.s.base+path, r)
	if err != nil {
		m.t.Fatal(err)
	}
	for k, v := range moniteHeaders {
		req.Header.Set(k, v)
	}
	for _, k := range drop {
		req.Header.Del(k)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	// Route the request as the schema's paths (without the test server's host).
	u, _ := url.Parse(path)
	routed := req.Clone(context.Background())
	routed.URL = &url.URL{Path: u.Path, RawQuery: u.RawQuery}
	routed.Host = ""
	route, params, err := m.router.FindRoute(routed)
	if err != nil {
		m.t.Fatalf("%s %s: not in the schema: %v", method, path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: routed, PathParams: params, Route: route},
		Status:                 resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(out)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		m.t.Errorf("%s %s -> %d %s\ndoes not fit Monite's schema: %v", method, path, resp.StatusCode, clipBody(out), err)
	}
	if bytes.Contains(out, []byte(`"*"`)) {
		m.t.Errorf("%s %s: the answer holds a wildcard, which Monite does not define: %s", method, path, clipBody(out))
	}
	m.n++
	return resp.StatusCode, out
}

func clipBody(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

func (m *moniteSchema) want(status int, method, path, body string, drop ...string) map[string]any {
	m.t.Helper()
	st, out := m.do(method, path, body, drop...)
	if st != status {
		m.t.Fatalf("%s %s: %d, want %d: %s", method, path, st, status, clipBody(out))
	}
	v := map[string]any{}
	if len(out) > 0 {
		if err := json.Unmarshal(out, &v); err != nil {
			m.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return v
}

// Every answer of the Monite-style facade fits Monite's published roles
// schema: creates, gets, searches with every parameter, PATCHes, deletes and
// errors, system roles (wildcards) and roles written natively with rights
// Monite cannot express included.
func TestMoniteAnswersFitMonitesSchema(t *testing.T) {
	s := newFacadeServer(t, "T123")
	m := loadMoniteSchema(t, s)

	// The seed's create, then its response's permissions.
	seed := m.want(200, "POST", "/v1/roles", `{"name":"name","permissions":{}}`)
	id := seed["id"].(string)
	m.want(200, "POST", "/v1/roles", `{"name":"tax","permissions":{"objects":[{"object_type":"accounting_tax_rate","actions":[{"action_name":"create","permission":"allowed"}]}]}}`)
	m.want(200, "POST", "/v1/roles", `{"name":"payables","permissions":{"objects":[{"object_type":"payable","actions":[
		{"action_name":"approve","permission":"allowed_for_own"},{"action_name":"read","permission":"not_allowed"},{"action_name":"pay","permission":"allowed"}]}]}}`)
	// Rights Monite has no words for, written natively: denied, other
	// object types, wildcards.
	s.must(201, "POST", "/v1/entities/T123/roles", map[string]any{"name": "native", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "delete", "permission": "denied"},
			map[string]any{"action_name": "*", "permission": "allowed"}}},
		map[string]any{"object_type": "shift", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}},
		map[string]any{"object_type": "*", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed_for_own"}}},
	}}})

	// Gets and every search parameter.
	m.want(200, "GET", "/v1/roles/"+id, "")
	all := m.want(200, "GET", "/v1/roles", "")
	if n := len(arr(all["data"])); n != 6 { // admin, member and four
		t.Fatalf("list: %d roles", n)
	}
	first := get(all, "data", 0, "id").(string)
	created := get(all, "data", 2, "created_at").(string)
	for _, q := range []string{
		"order=desc", "order=asc", "limit=1", "limit=100", "sort=updated_at", "sort=created_at",
		"id__in=" + id + "&id__in=" + first, "name=tax", "name=nobody",
		"created_at=" + url.QueryEscape(created), "created_at__gt=" + url.QueryEscape(created),
		"created_at__lt=" + url.QueryEscape(created), "created_at__gte=" + url.QueryEscape(created),
		"created_at__lte=" + url.QueryEscape(created),
		"order=desc&limit=2&sort=updated_at&created_at__gte=2000-01-01T00:00:00Z",
	} {
		m.want(200, "GET", "/v1/roles?"+q, "")
	}
	page := m.want(200, "GET", "/v1/roles?limit=2", "")
	for hops := 0; page["next_pagination_token"] != nil; hops++ {
		if hops > 5 {
			t.Fatal("pagination does not end")
		}
		page = m.want(200, "GET", "/v1/roles?pagination_token="+url.QueryEscape(page["next_pagination_token"].(string)), "")
	}

	// PATCH name, permissions, both.
	m.want(200, "PATCH", "/v1/roles/"+id, `{"name":"renamed"}`)
	m.want(200, "PATCH", "/v1/roles/"+id, `{"permissions":{"objects":[{"object_type":"receipt","actions":[{"action_name":"read","permission":"allowed"}]}]}}`)
	m.want(200, "PATCH", "/v1/roles/"+id, `{"name":"both","permissions":{"objects":[]}}`)

	// Errors.
	m.want(400, "GET", "/v1/roles", "", "x-monite-version")
	m.want(422, "GET", "/v1/roles", "", "x-monite-entity-id") // FastAPI: a missing header is 422
	m.want(401, "GET", "/v1/roles", "", "Authorization")
	m.want(404, "GET", "/v1/roles/00000000-0000-0000-0000-000000000000", "")
	m.want(404, "PATCH", "/v1/roles/00000000-0000-0000-0000-000000000000", `{"name":"x"}`)
	m.want(422, "POST", "/v1/roles", `{"name":"Schichtführung","permissions":{}}`)
	m.want(422, "POST", "/v1/roles", `{"name":"x","permissions":{},"colour":"red"}`)
	m.want(422, "POST", "/v1/roles", `{"name":"x","permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"denied"}]}]}}`)
	m.want(422, "POST", "/v1/roles", `{"name":"x","permissions":{"objects":[{"object_type":"shift","actions":[{"action_name":"read","permission":"allowed"}]}]}}`)
	m.want(422, "POST", "/v1/roles", `{"name":`)
	m.want(422, "GET", "/v1/roles?limit=0", "")
	m.want(422, "GET", "/v1/roles?order=sideways", "")
	m.want(422, "GET", "/v1/roles?created_at__gt=yesterday", "")
	m.want(409, "POST", "/v1/roles", `{"name":"tax","permissions":{}}`)
	m.want(403, "PATCH", "/v1/roles/"+first, `{"name":"root"}`)
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "holder", "role_ids": []string{id}})
	m.want(409, "DELETE", "/v1/roles/"+id, "")
	s.must(204, "DELETE", "/v1/entities/T123/users/holder", nil)
	m.want(204, "DELETE", "/v1/roles/"+id, "")
	m.want(404, "DELETE", "/v1/roles/"+id, "")
	if m.n < 40 {
		t.Fatalf("only %d answers validated", m.n)
	}
}
