package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
)

// constraintServer serves the native API over a real Service (memstore) with
// an admin token, a manage client of T1, a check-only client of T1 and a
// manage client of T2.
func constraintServer(t *testing.T) func(token, method, path, body string) (int, string) {
	t.Helper()
	svc, _ := testkit.Service(t)
	h := NewRouter(Deps{Service: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: fixedAuth{
		"admin":   {ID: "admin", Scopes: []string{auth.ScopeAdmin}},
		"t1":      {ID: "client:t1", EntityID: "T1", ClientID: "t1", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}},
		"t1check": {ID: "client:t1check", EntityID: "T1", ClientID: "t1check", Scopes: []string{auth.ScopeCheck}},
		"t2":      {ID: "client:t2", EntityID: "T2", ClientID: "t2", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}},
	}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	call := func(token, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, e := range []string{"T1", "T2"} {
		if st, out := call("admin", "POST", "/v1/entities", `{"id":"`+e+`"}`); st != http.StatusCreated {
			t.Fatalf("entity %s: %d %s", e, st, out)
		}
	}
	return call
}

func codeOf(t *testing.T, out string) string {
	t.Helper()
	var b wire.ErrorBody
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("not an error body: %s", out)
	}
	return b.Error.Code
}

// The attacks the wire refuses before the Service is asked: no token,
// another entity's client, bodies too large or of the wrong shape, and a
// list of rights far past the limit (refused at the 21st right, read no
// further). Nothing is stored.
func TestConstraintsWireRefusals(t *testing.T) {
	call := constraintServer(t)
	var many strings.Builder
	many.WriteString(`{"name":"x","rights":[`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `{"object_type":"o%d","action":"a"}`, i)
	}
	many.WriteString(`]}`)
	var exc strings.Builder
	exc.WriteString(`{"name":"x","rights":[{"object_type":"a","action":"b"},{"object_type":"c","action":"d"}],"exceptions":[`)
	for i := 0; i < 101; i++ {
		if i > 0 {
			exc.WriteString(",")
		}
		fmt.Fprintf(&exc, `{"user_id":"u%d","reason":"r","expires_at":"2099-01-01T00:00:00Z"}`, i)
	}
	exc.WriteString(`]}`)
	huge := `{"name":"x","description":"` + strings.Repeat("a", 2<<20) + `"}`
	st, out := call("t1", "POST", "/v1/entities/T1/constraints", `{"name":"mine","rights":[{"object_type":"a","action":"b"},{"object_type":"c","action":"d"}]}`)
	var mine wire.Constraint
	if err := json.Unmarshal([]byte(out), &mine); st != 201 || err != nil || mine.ID == "" || mine.Mode != "enforce" {
		t.Fatalf("create: %d %s", st, out)
	}
	for _, tc := range []struct {
		name, token, method, path, body string
		status                          int
		code                            string
	}{
		{"no token", "", "GET", "/v1/entities/T1/constraints", "", 401, "unauthenticated"},
		{"no token write", "", "POST", "/v1/entities/T1/constraints", `{}`, 401, "unauthenticated"},
		{"other entity list", "t2", "GET", "/v1/entities/T1/constraints", "", 404, "entity_not_found"},
		{"other entity create", "t2", "POST", "/v1/entities/T1/constraints", `{"name":"x"}`, 404, "entity_not_found"},
		{"other entity get", "t2", "GET", "/v1/entities/T1/constraints/abc", "", 404, "entity_not_found"},
		{"other entity put", "t2", "PUT", "/v1/entities/T1/constraints/abc", `{"name":"x"}`, 404, "entity_not_found"},
		{"other entity delete", "t2", "DELETE", "/v1/entities/T1/constraints/abc", "", 404, "entity_not_found"},
		{"other entity violations", "t2", "GET", "/v1/entities/T1/constraints/abc/violations", "", 404, "entity_not_found"},
		{"1,000 rights", "t1", "POST", "/v1/entities/T1/constraints", many.String(), 422, "too_many_rights"},
		{"101 exceptions", "t1", "POST", "/v1/entities/T1/constraints", exc.String(), 422, "too_many_exceptions"},
		{"unknown field", "t1", "POST", "/v1/entities/T1/constraints", `{"name":"x","rights":[],"owner":"me"}`, 422, "unknown_field"},
		{"unknown right field", "t1", "POST", "/v1/entities/T1/constraints", `{"name":"x","rights":[{"object_type":"a","action":"b","permission":"allowed"}]}`, 422, "unknown_field"},
		{"wrong type", "t1", "POST", "/v1/entities/T1/constraints", `{"name":"x","rights":"all"}`, 422, "invalid_type"},
		{"malformed", "t1", "POST", "/v1/entities/T1/constraints", `{"name":`, 400, "malformed_json"},
		{"bad expiry", "t1", "POST", "/v1/entities/T1/constraints", `{"name":"x","rights":[{"object_type":"a","action":"b"},{"object_type":"c","action":"d"}],"exceptions":[{"user_id":"u","reason":"r","expires_at":"tomorrow"}]}`, 422, "invalid_expires_at"},
		{"oversized", "t1", "POST", "/v1/entities/T1/constraints", huge, 413, "payload_too_large"},
		{"dry run", "t1", "POST", "/v1/entities/T1/constraints?dry_run=true", `{}`, 422, "dry_run_unsupported"},
		{"check-only list", "t1check", "GET", "/v1/entities/T1/constraints", "", 403, "insufficient_scope"},
		{"check-only create", "t1check", "POST", "/v1/entities/T1/constraints", `{"name":"x","rights":[{"object_type":"a","action":"b"},{"object_type":"c","action":"d"}]}`, 403, "insufficient_scope"},
		{"check-only violations", "t1check", "GET", "/v1/entities/T1/constraints/abc/violations", "", 403, "insufficient_scope"},
		{"unknown constraint", "t1", "GET", "/v1/entities/T1/constraints/abc", "", 404, "constraint_not_found"},
		{"another entity's constraint id", "admin", "GET", "/v1/entities/T2/constraints/{t1}", "", 404, "constraint_not_found"},
	} {
		st, out := call(tc.token, tc.method, strings.ReplaceAll(tc.path, "{t1}", mine.ID), tc.body)
		if st != tc.status || codeOf(t, out) != tc.code {
			t.Errorf("%s: %d %.300s, want %d %s", tc.name, st, out, tc.status, tc.code)
		}
	}
	if st, out := call("admin", "GET", "/v1/entities/T1/audit-events?object_type=constraint", ""); st != 200 || strings.Count(out, `"constraint.create"`) != 1 {
		t.Errorf("a refused write left a trace: %d %s", st, out)
	}
	if st, out := call("admin", "GET", "/v1/entities/T1/constraints", ""); st != 200 || strings.Count(out, `"id"`) != 1 {
		t.Errorf("constraints after the refusals: %d %s", st, out)
	}
}

// A refusal's violations reach the native body whole, and each facade's
// message names the constraint and the users.
func TestSeparationOfDutiesErrorBodies(t *testing.T) {
	e := rolegate.Errorf(rolegate.KindConflict, "separation_of_duties", `separation of duties: constraint "maker-checker": user "alice" would hold payable.create and payable.approve together`)
	e.Violations = []rolegate.Violation{{ConstraintID: "k1", ConstraintName: "maker-checker", UserID: "alice",
		Rights: []rolegate.HeldRight{
			{ObjectType: "payable", Action: "create", Permission: rolegate.Allowed, Roles: []rolegate.HeldVia{{RoleID: "r1", RoleName: "maker"}}},
			{ObjectType: "payable", Action: "approve", Permission: rolegate.Allowed, Own: true, Roles: []rolegate.HeldVia{}},
		}}, {ConstraintID: "k1", ConstraintName: "maker-checker", UserID: "bob", Scope: "team:1",
		Rights: []rolegate.HeldRight{{ObjectType: "payable", Action: "create", Permission: rolegate.AllowedForOwn, Condition: "user.x == 1",
			Roles: []rolegate.HeldVia{{RoleID: "r2", RoleName: "clerk", Scope: "team:1"}}}}}}
	run := func(w func(*gin.Context, error)) (int, string) {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		c.Request = httptest.NewRequest("PUT", "/x", nil)
		w(c, e)
		return rec.Code, rec.Body.String()
	}
	st, out := run(writeError)
	want := `{"error":{"code":"separation_of_duties","message":"separation of duties: constraint \"maker-checker\": user \"alice\" would hold payable.create and payable.approve together","violations":[` +
		`{"constraint_id":"k1","constraint_name":"maker-checker","user_id":"alice","rights":[` +
		`{"object_type":"payable","action":"create","permission":"allowed","roles":[{"role_id":"r1","role_name":"maker","scope":""}],"own":false},` +
		`{"object_type":"payable","action":"approve","permission":"allowed","roles":[],"own":true}]},` +
		`{"constraint_id":"k1","constraint_name":"maker-checker","user_id":"bob","scope":"team:1","rights":[` +
		`{"object_type":"payable","action":"create","permission":"allowed_for_own","condition":"user.x == 1","roles":[{"role_id":"r2","role_name":"clerk","scope":"team:1"}],"own":false}]}]}}`
	if st != 409 || out != want {
		t.Fatalf("native: %d\n%s\nwant\n%s", st, out, want)
	}
	for name, w := range map[string]func(*gin.Context, error){"dintero": dinteroError, "monite": moniteError, "papershift": papershiftError} {
		st, out := run(w)
		if (name == "dintero" && st != 400) || (name != "dintero" && st != 409) {
			t.Errorf("%s: status %d", name, st)
		}
		if !strings.Contains(out, `\"maker-checker\"`) || !strings.Contains(out, "together; users alice, bob") || strings.Contains(out, "violations") {
			t.Errorf("%s: %s", name, out)
		}
	}
	// Any other error is as it was.
	plain := rolegate.Errorf(rolegate.KindConflict, "role_in_use", "users hold the role")
	if got := sodMessage(plain); got != plain.Message {
		t.Errorf("sodMessage of another code: %q", got)
	}
	if st, out := run(func(c *gin.Context, _ error) { writeError(c, errors.New("boom")) }); st != 500 || strings.Contains(out, "violations") {
		t.Errorf("internal: %d %s", st, out)
	}
}
