package handlers

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
)

// historyServer is a router over a fresh in-memory service holding entity e1
// (and e2), with an admin, a check-only client, a client bound to e2 and a
// manage client bound to e1.
func historyServer(t *testing.T) (*httptest.Server, func(token, method, path, body string, headers ...string) (int, http.Header, []byte)) {
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
	call := func(token, method, path, body string, headers ...string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
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

// The past on every HTTP surface, from a real service: a user held a role
// for a while; checks (single and batch, explained), who-can (every page
// from one revision), effective rights, the access report (JSON and CSV)
// and the access history answer as the policy of then did, with the
// revision answered from. Attacks: an instant in the future, before the
// entity, a revision past the entity's or huge, a check-only token (403: the
// past needs the audit log's right), no token (401).
func TestHistoryWire(t *testing.T) {
	_, call := historyServer(t)
	must := func(method, path, body string, want int) (http.Header, []byte) {
		t.Helper()
		st, h, b := call("admin", method, path, body)
		if st != want {
			t.Fatalf("%s %s: %d %s", method, path, st, b)
		}
		return h, b
	}
	_, b := must("POST", "/v1/entities/e1/roles", `{"name":"approver","permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"approve","permission":"allowed"}]}]}}`, 201)
	var role struct{ ID string }
	_ = json.Unmarshal(b, &role)
	must("POST", "/v1/entities/e1/users", `{"id":"u1","role_ids":[]}`, 201)
	must("POST", "/v1/entities/e1/users", `{"id":"u2","role_ids":[]}`, 201)
	h, _ := must("PUT", "/v1/entities/e1/users/u1/roles/"+role.ID, "", 200)
	r1 := h.Get(RevisionHeader)
	must("PUT", "/v1/entities/e1/users/u2/roles/"+role.ID, "", 200)
	time.Sleep(20 * time.Millisecond)
	held := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(20 * time.Millisecond)
	h, _ = must("DELETE", "/v1/entities/e1/users/u1/roles/"+role.ID, "", 204)
	r2 := h.Get(RevisionHeader)
	must("DELETE", "/v1/entities/e1/users/u2/roles/"+role.ID, "", 204)

	const q = `"entity_id":"e1","user_id":"u1","object_type":"payable","action":"approve"`
	decision := func(b []byte) (allowed bool, rev string) {
		t.Helper()
		var d struct {
			Allowed  bool
			Revision json.Number
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return d.Allowed, d.Revision.String()
	}
	if _, b := must("POST", "/v1/check", `{`+q+`}`, 200); !strings.HasPrefix(string(b), `{"allowed":false`) {
		t.Fatalf("now: %s", b)
	}
	_, b = must("POST", "/v1/check", `{`+q+`,"as_of":"`+held+`"}`, 200)
	if ok, rev := decision(b); !ok || rev == r1 || rev == r2 {
		// In force then: u2's assignment, between r1 and r2.
		t.Fatalf("as_of: %s (assigned at %s, taken at %s)", b, r1, r2)
	}
	if _, b := must("POST", "/v1/check", `{`+q+`,"at_revision":`+r1+`}`, 200); !strings.Contains(string(b), `"allowed":true`) || !strings.Contains(string(b), `"revision":`+r1) {
		t.Fatalf("at_revision %s: %s", r1, b)
	}
	if _, b := must("POST", "/v1/check", `{`+q+`,"at_revision":`+r2+`}`, 200); !strings.Contains(string(b), `"allowed":false`) {
		t.Fatalf("at_revision %s: %s", r2, b)
	}
	if _, b := must("POST", "/v1/check", `{`+q+`,"as_of":"`+held+`","explain":true}`, 200); !strings.Contains(string(b), `"role_id":"`+role.ID+`"`) {
		t.Fatalf("explained as_of: %s", b)
	}
	_, b = must("POST", "/v1/check/batch", `{"checks":[{`+q+`},{`+q+`,"as_of":"`+held+`"},{`+q+`,"at_revision":`+r1+`}]}`, 200)
	var batch struct{ Results []struct{ Allowed bool } }
	if json.Unmarshal(b, &batch) != nil || len(batch.Results) != 3 || batch.Results[0].Allowed || !batch.Results[1].Allowed || !batch.Results[2].Allowed {
		t.Fatalf("batch: %s", b)
	}

	// who-can, a page at a time: both pages from the same revision.
	h, b = must("GET", "/v1/entities/e1/who-can?object_type=payable&action=approve&limit=1&as_of="+held, "", 200)
	var page struct {
		Data []struct {
			UserID string `json:"user_id"`
		}
		NextPaginationToken *string `json:"next_pagination_token"`
	}
	if json.Unmarshal(b, &page) != nil || len(page.Data) != 1 || page.Data[0].UserID != "u1" || page.NextPaginationToken == nil || h.Get(RevisionHeader) == "" {
		t.Fatalf("who-can as_of: %s %v", b, h)
	}
	rev := h.Get(RevisionHeader)
	h, b = must("GET", "/v1/entities/e1/who-can?pagination_token="+*page.NextPaginationToken, "", 200)
	if json.Unmarshal(b, &page) != nil || len(page.Data) != 1 || page.Data[0].UserID != "u2" || h.Get(RevisionHeader) != rev {
		t.Fatalf("who-can as_of, page 2: %s (revision %s, first page %s)", b, h.Get(RevisionHeader), rev)
	}
	if _, b := must("GET", "/v1/entities/e1/who-can?object_type=payable&action=approve", "", 200); strings.Contains(string(b), "u1") {
		t.Fatalf("who-can now: %s", b)
	}
	if h, b := must("GET", "/v1/entities/e1/users/u1/permissions?at_revision="+r1, "", 200); !strings.Contains(string(b), `"action_name":"approve"`) || h.Get(RevisionHeader) != r1 {
		t.Fatalf("permissions at_revision: %s %v", b, h)
	}
	if _, b := must("GET", "/v1/entities/e1/users/u1/permissions", "", 200); strings.Contains(string(b), "approve") {
		t.Fatalf("permissions now: %s", b)
	}
	if h, b := must("GET", "/v1/entities/e1/access-report?as_of="+held, "", 200); !strings.Contains(string(b), `"user_id":"u1","scope":null,"object_type":"payable","action":"approve"`) || h.Get(RevisionHeader) != rev {
		t.Fatalf("report as_of: %s", b)
	}
	st, _, b := call("admin", "GET", "/v1/entities/e1/access-report?at_revision="+r1, "", "Accept", "text/csv")
	if st != 200 || !strings.Contains(string(b), "u1,,payable,approve,allowed,"+role.ID+",approver") {
		t.Fatalf("CSV report at_revision: %d %s", st, b)
	}

	// The history: one interval, opened by the assignment and closed by
	// its removal, both by client:ops.
	h, b = must("GET", "/v1/entities/e1/users/u1/access-history?object_type=payable&action=approve", "", 200)
	var hist struct {
		Data []struct {
			From struct {
				Revision json.Number
				Actor    string
			}
			To *struct {
				Revision json.Number
				Actor    string
			}
			Permission string
			Via        []struct {
				RoleID   string `json:"role_id"`
				RoleName string `json:"role_name"`
			}
			Opened, Closed *struct {
				Action     string
				ObjectType string `json:"object_type"`
			}
		}
		Revision json.Number
	}
	if err := json.Unmarshal(b, &hist); err != nil || len(hist.Data) != 1 {
		t.Fatalf("history: %s %v", b, err)
	}
	iv := hist.Data[0]
	if iv.From.Revision.String() != r1 || iv.To == nil || iv.To.Revision.String() != r2 || iv.Permission != "allowed" ||
		len(iv.Via) != 1 || iv.Via[0].RoleID != role.ID || iv.Via[0].RoleName != "approver" || iv.From.Actor != "client:ops" ||
		iv.Opened == nil || iv.Opened.ObjectType != "assignment" || iv.Closed == nil || iv.Closed.ObjectType != "assignment" ||
		h.Get("Cache-Control") != "no-store" {
		t.Fatalf("history: %s %v (r1 %s, r2 %s, %+v)", b, h, r1, r2, iv)
	}
	if _, b := must("GET", "/v1/entities/e1/users/u1/access-history?object_type=payable&action=approve&from="+held+"&to="+held, "", 200); !strings.Contains(string(b), `"to":null`) {
		t.Fatalf("history inside the interval: %s", b)
	}
	if _, b := must("GET", "/v1/entities/e1/users/u1/access-history?object_type=payable&action=read", "", 200); !strings.HasPrefix(string(b), `{"data":[],`) {
		t.Fatalf("history of a right never held: %s", b)
	}

	// Attacks.
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct{ body, code string }{
		{`{` + q + `,"as_of":"` + future + `"}`, "invalid_as_of"},
		{`{` + q + `,"as_of":"2000-01-01T00:00:00Z"}`, "before_entity"},
		{`{` + q + `,"at_revision":` + r2 + `00}`, "invalid_revision"},
		{`{` + q + `,"at_revision":9223372036854775807}`, "invalid_revision"},
	} {
		if st, _, b := call("admin", "POST", "/v1/check", tc.body); st != 422 || !strings.Contains(string(b), `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s", tc.body, st, b)
		}
	}
	for _, path := range []string{"/v1/entities/e1/who-can?object_type=payable&action=approve&as_of=" + future,
		"/v1/entities/e1/users/u1/permissions?as_of=2000-01-01T00:00:00Z", "/v1/entities/e1/access-report?at_revision=9223372036854775807"} {
		if st, _, b := call("admin", "GET", path, ""); st != 422 {
			t.Errorf("%s: %d %s", path, st, b)
		}
	}
	// A check-only token asks now, not the past.
	if st, _, b := call("check", "POST", "/v1/check", `{`+q+`}`); st != 200 {
		t.Fatalf("check-only token, now: %d %s", st, b)
	}
	for _, body := range []string{`{` + q + `,"as_of":"` + held + `"}`, `{` + q + `,"at_revision":` + r1 + `}`} {
		if st, _, b := call("check", "POST", "/v1/check", body); st != 403 {
			t.Errorf("check-only token, %s: %d %s", body, st, b)
		}
		if st, _, b := call("check", "POST", "/v1/check/batch", `{"checks":[{`+q+`},`+body+`]}`); st != 403 {
			t.Errorf("check-only token, batch %s: %d %s", body, st, b)
		}
		if st, _, b := call("", "POST", "/v1/check", body); st != 401 {
			t.Errorf("no token, %s: %d %s", body, st, b)
		}
	}
	if st, _, b := call("check", "GET", "/v1/entities/e1/users/u1/access-history?object_type=payable&action=approve", ""); st != 403 {
		t.Errorf("check-only token, access history: %d %s", st, b)
	}
	// Another entity's client learns nothing of e1's past.
	if st, _, b := call("other", "POST", "/v1/check", `{`+q+`,"at_revision":`+r1+`}`); st < 400 || strings.Contains(string(b), `"allowed":true`) {
		t.Errorf("another entity's client, at_revision: %d %s", st, b)
	}
}
