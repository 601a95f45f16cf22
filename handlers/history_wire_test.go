package handlers

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
)

// historyServer is a router over a fresh in-memory service holding entity e1
// (and e2), with an admin, a check-only client, a client bound to e2 and a
// manage client bound to e1.
func historyServer(t *testing.T) (*httptest.Server, func(token, method, path, body string) (int, http.Header, []byte)) {
	t.Helper()
	svc, _ := testkit.Service(t, "e1", "e2")
	h := NewRouter(Deps{Service: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: fixedAuth{
		"admin":  {ID: "client:ops", Scopes: []string{auth.ScopeAdmin}},
		"check":  {ID: "client:chk", ClientID: "chk", Scopes: []string{auth.ScopeCheck}},
		"other":  {ID: "client:other", ClientID: "other", EntityID: "e2", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}},
		"bound1": {ID: "client:bound1", ClientID: "bound1", EntityID: "e1", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}},
	}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	call := func(token, method, path, body string) (int, http.Header, []byte) {
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
		return res.StatusCode, res.Header, b
	}
	return srv, call
}

// errorOf reads an error body's code and first detail's field.
func errorOf(t *testing.T, b []byte) (code, field string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string
			Details []struct{ Field string }
		}
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an error body: %s", b)
	}
	if len(e.Error.Details) > 0 {
		field = e.Error.Details[0].Field
	}
	return e.Error.Code, field
}

// A malformed as_of or at_revision is refused with 422 and a code naming the
// field, on each surface, before anything is asked of the service (which
// answers nothing as of the past without them being well-formed): both given,
// either with min_revision, a date that is not RFC 3339, the zero instant
// (which the service would read as now), a revision below 1 (0 would read as
// now), given twice in a query.
func TestAsOfMalformedRefused(t *testing.T) {
	_, call := historyServer(t)
	const q = `"entity_id":"e1","user_id":"u1","object_type":"payable","action":"approve"`
	for _, tc := range []struct {
		body, code, field string
	}{
		{`{` + q + `,"as_of":"2026-03-31T23:59:59Z","at_revision":3}`, "invalid_as_of", "as_of"},
		{`{` + q + `,"as_of":"2026-03-31T23:59:59Z","min_revision":3}`, "invalid_as_of", "as_of"},
		{`{` + q + `,"at_revision":2,"min_revision":3}`, "invalid_as_of", "at_revision"},
		{`{` + q + `,"as_of":"31/03/2026"}`, "invalid_as_of", "as_of"},
		{`{` + q + `,"as_of":""}`, "invalid_as_of", "as_of"},
		{`{` + q + `,"as_of":"2026-03-31"}`, "invalid_as_of", "as_of"},
		{`{` + q + `,"as_of":"2026-03-31T23:59:59"}`, "invalid_as_of", "as_of"}, // no time zone
		{`{` + q + `,"as_of":"10000-01-01T00:00:00Z"}`, "invalid_as_of", "as_of"},
		{`{` + q + `,"as_of":"2026-03-31T23:59:59.` + strings.Repeat("0", 100) + `Z"}`, "invalid_as_of", "as_of"},
		{`{` + q + `,"as_of":"0001-01-01T00:00:00Z"}`, "before_entity", "as_of"},
		{`{` + q + `,"as_of":"0001-01-01T01:00:00+01:00"}`, "before_entity", "as_of"},
		{`{` + q + `,"at_revision":0}`, "invalid_revision", "at_revision"},
		{`{` + q + `,"at_revision":-1}`, "invalid_revision", "at_revision"},
		{`{` + q + `,"at_revision":-9223372036854775808}`, "invalid_revision", "at_revision"},
		{`{` + q + `,"at_revision":"3"}`, "invalid_type", "at_revision"},
	} {
		st, _, b := call("admin", "POST", "/v1/check", tc.body)
		if code, field := errorOf(t, b); st != 422 || code != tc.code || field != tc.field {
			t.Errorf("%s: %d %s", tc.body, st, b)
		}
		if tc.code == "invalid_type" {
			continue // the decoder's own error (its field: checks.at_revision)
		}
		// The same check as the third of a batch names its place.
		batch := `{"checks":[{` + q + `},{` + q + `},` + tc.body + `]}`
		st, _, b = call("admin", "POST", "/v1/check/batch", batch)
		if code, field := errorOf(t, b); st != 422 || code != tc.code || field != "checks[2]."+tc.field {
			t.Errorf("batch %s: %d %s", tc.body, st, b)
		}
	}

	for _, path := range []string{"/v1/entities/e1/who-can?object_type=payable&action=approve&",
		"/v1/entities/e1/users/u1/permissions?", "/v1/entities/e1/access-report?"} {
		for _, tc := range []struct{ query, code, field string }{
			{"as_of=2026-03-31T23:59:59Z&at_revision=3", "invalid_as_of", "as_of"},
			{"as_of=2026-03-31T23:59:59Z&as_of=2026-04-01T00:00:00Z", "invalid_as_of", "as_of"},
			{"at_revision=1&at_revision=2", "invalid_as_of", "as_of"},
			{"as_of=yesterday", "invalid_as_of", "as_of"},
			{"as_of=", "invalid_as_of", "as_of"},
			{"as_of=0001-01-01T00:00:00Z", "before_entity", "as_of"},
			{"at_revision=0", "invalid_revision", "at_revision"},
			{"at_revision=-5", "invalid_revision", "at_revision"},
			{"at_revision=abc", "invalid_revision", "at_revision"},
			{"at_revision=", "invalid_revision", "at_revision"},
			{"at_revision=99999999999999999999999", "invalid_revision", "at_revision"},
		} {
			st, _, b := call("admin", "GET", path+tc.query, "")
			if code, field := errorOf(t, b); st != 422 || code != tc.code || field != tc.field {
				t.Errorf("%s%s: %d %s", path, tc.query, st, b)
			}
		}
	}

	for _, tc := range []struct{ query, code, field string }{
		{"from=yesterday", "invalid_datetime", "from"},
		{"to=2026-13-01T00:00:00Z", "invalid_datetime", "to"},
		{"from=2026-01-01T00:00:00Z&from=2026-01-02T00:00:00Z", "invalid_datetime", "from"},
		{"from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "invalid_datetime", "from"},
		{"from=0001-01-01T00:00:00Z", "before_entity", "from"},
	} {
		st, _, b := call("admin", "GET", "/v1/entities/e1/users/u1/access-history?object_type=payable&action=approve&"+tc.query, "")
		if code, field := errorOf(t, b); st != 422 || code != tc.code || field != tc.field {
			t.Errorf("access-history %s: %d %s", tc.query, st, b)
		}
	}

	// No token: 401, on the new route as on the others; another entity's
	// client finds nothing: 404.
	for _, path := range []string{"/v1/entities/e1/users/u1/access-history?object_type=payable&action=approve",
		"/v1/entities/e1/who-can?object_type=payable&action=approve&at_revision=1",
		"/v1/entities/e1/users/u1/permissions?at_revision=1", "/v1/entities/e1/access-report?at_revision=1"} {
		if st, _, b := call("", "GET", path, ""); st != 401 {
			t.Errorf("%s without a token: %d %s", path, st, b)
		}
		if st, _, b := call("other", "GET", path, ""); st != 404 {
			t.Errorf("%s by another entity's client: %d %s", path, st, b)
		}
	}
}
