package systemtest

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/api"
)

// Attacks on who-can, dry runs and explained refusals: each is guarded like
// the data it reveals (users and their roles), and a dry run is refused
// wherever the real write is.

// TestAttackWhoCanGuards: no token is 401; another entity's token gets 404
// (as an unknown entity); a user without the rights to read users and roles
// gets 403; odd questions are 422 and change nothing.
func TestAttackWhoCanGuards(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "OTHER"})
	path := "/v1/entities/T100/who-can?object_type=payable&action=approve"
	if st, _, out := s.callToken("", "GET", path, nil); st != 401 {
		t.Fatalf("no token: %d %v", st, out)
	}
	if st, _, out := s.callToken(f.alice, "GET", "/v1/entities/OTHER/who-can?object_type=payable&action=approve", nil); st != 404 || errCode(out) != "entity_not_found" {
		t.Fatalf("another entity: %d %v", st, out)
	}
	if st, _, out := s.callToken(f.bob, "GET", path, nil); st != 403 {
		t.Fatalf("bob, who may read nothing: %d %v", st, out)
	}
	// carol may read users but not roles: who-can shows roles, so no.
	reader := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "user reader", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "user", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}}).ID
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "carol", "role_ids": []string{reader}})
	carol := f.idp.token(t, jwt.MapClaims{"sub": "carol"})
	if st, _, out := s.callToken(carol, "GET", path, nil); st != 403 {
		t.Fatalf("carol, who may not read roles: %d %v", st, out)
	}
	// alice manages users and roles: she may ask.
	if st, _, out := s.callToken(f.alice, "GET", path, nil); st != 200 {
		t.Fatalf("alice: %d %v", st, out)
	}
	for _, q := range []string{
		"object_type=payable",                            // no action
		"action=approve",                                 // no object type
		"object_type=*&action=approve",                   // wildcards are not questions
		"object_type=payable&action=*",                   //
		"object_type=Payable&action=approve",             // not an identifier
		"object_type=payable&action=approve&scope=a%7Cb", // "|" never is in a scope
		"object_type=" + strings.Repeat("p", 5000) + "&action=approve",
		"object_type=payable&action=approve&limit=0",
		"object_type=payable&action=approve&limit=100000",
	} {
		if st, _, out := s.call("GET", "/v1/entities/T100/who-can?"+q, nil); st != 422 {
			t.Errorf("%.80s: want 422, got %d %v", q, st, out)
		}
	}
}

// TestAttackWhoCanPaginationToken: a token is bound to its entity and its
// question; a forged or borrowed one is refused.
func TestAttackWhoCanPaginationToken(t *testing.T) {
	f := newExtrasFixture(t, 3, 3, 12)
	s := f.s
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "other"})
	var tok string
	for _, q := range []string{"object_type=payable&action=read", "object_type=doc&action=read", "object_type=receipt&action=delete", "object_type=payable&action=approve"} {
		out := s.must(200, "GET", "/v1/entities/acme/who-can?limit=1&"+q, nil)
		if next, _ := out["next_pagination_token"].(string); next != "" {
			tok = next
			break
		}
	}
	if tok == "" {
		t.Fatal("no question had two pages")
	}
	for _, c := range []struct{ what, path string }{
		{"another entity", "/v1/entities/other/who-can?pagination_token=" + url.QueryEscape(tok)},
		{"another list", "/v1/entities/acme/users?pagination_token=" + url.QueryEscape(tok)},
		{"forged", "/v1/entities/acme/who-can?pagination_token=eyJsIjoid2hvX2NhbiJ9"},
		{"garbage", "/v1/entities/acme/who-can?pagination_token=%25%25%25"},
	} {
		if st, _, out := s.call("GET", c.path, nil); st != 422 || errCode(out) != "invalid_pagination_token" {
			t.Errorf("%s: want 422 invalid_pagination_token, got %d %v", c.what, st, out)
		}
	}
	// With a token, the question comes from the token: another one in the
	// query does not change it.
	a := s.must(200, "GET", "/v1/entities/acme/who-can?limit=1&pagination_token="+url.QueryEscape(tok), nil)
	b := s.must(200, "GET", "/v1/entities/acme/who-can?limit=1&object_type=doc&action=delete&pagination_token="+url.QueryEscape(tok), nil)
	if len(a["data"].([]any)) != 1 || a["data"].([]any)[0].(map[string]any)["user_id"] != b["data"].([]any)[0].(map[string]any)["user_id"] {
		t.Fatalf("the token's question was not kept: %v / %v", a, b)
	}
}

// TestAttackDryRun: a dry run needs what the real write needs and more (it
// reveals users' rights: the right to read users); it is refused by the
// escalation guard exactly as the real write; an odd dry_run is 422; and a
// refused dry run changes nothing.
func TestAttackDryRun(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	bobRole := "/v1/entities/T100/users/bob/roles/"
	if st, _, _ := s.callToken("", "PUT", bobRole+f.basic+"?dry_run=true", nil); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	// alice may not give bob superuser (*:*): not for real, not as a dry run.
	for _, q := range []string{"?dry_run=true", ""} {
		f.refused(t, "assign superuser"+q, "PUT", bobRole+f.superuser+q, nil)
		f.refused(t, "lift her own deny"+q, "PATCH", "/v1/entities/T100/roles/"+f.noApprove+q,
			map[string]any{"permissions": map[string]any{"objects": []any{}}})
		f.refused(t, "take her deny away"+q, "DELETE", "/v1/entities/T100/users/alice/roles/"+f.noApprove+q, nil)
	}
	// A dry run she may make answers what it would do, and does nothing.
	st, _, out := s.callToken(f.alice, "PUT", bobRole+f.basic+"?dry_run=true", nil)
	if st != 200 || out["dry_run"] != true || len(out["gained"].([]any)) != 1 {
		t.Fatalf("alice's dry run: %d %v", st, out)
	}
	if f.allowed("bob", "payable", "read", "") {
		t.Fatal("the dry run gave bob the role")
	}
	// dave may update roles and assign them, but not read users: a dry run
	// would show him users' rights.
	editor := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "editor", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "role", "actions": []any{map[string]any{"action_name": "*", "permission": "allowed"}}},
		map[string]any{"object_type": "user", "actions": []any{map[string]any{"action_name": "update", "permission": "allowed"}}},
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}}).ID
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "dave", "role_ids": []string{editor}})
	dave := f.idp.token(t, jwt.MapClaims{"sub": "dave"})
	for _, c := range []struct{ method, path string }{
		{"PUT", bobRole + f.basic + "?dry_run=true"},
		{"PATCH", "/v1/entities/T100/roles/" + f.basic + "?dry_run=true"},
		{"DELETE", "/v1/entities/T100/roles/" + f.noApprove + "?dry_run=true"},
	} {
		body := any(nil)
		if c.method == "PATCH" {
			body = map[string]any{"description": "x"}
		}
		if st, _, out := s.callToken(dave, c.method, c.path, body); st != 403 {
			t.Errorf("dave %s %s: want 403, got %d %v", c.method, c.path, st, out)
		}
	}
	// The real write dave may make.
	if st, _, out := s.callToken(dave, "PUT", bobRole+f.basic, nil); st != 200 {
		t.Fatalf("dave's real assignment: %d %v", st, out)
	}
	for _, v := range []string{"maybe", "2", "yes%00"} {
		if st, _, out := s.call("PUT", bobRole+f.basic+"?dry_run="+v, nil); st != 422 || errCode(out) != "invalid_dry_run" {
			t.Errorf("dry_run=%s: %d %v", v, st, out)
		}
	}
	// Validation and conflicts answer as the real write does.
	for _, c := range []struct{ method, path, code string }{
		{"PUT", "/v1/entities/T100/users/nobody/roles/" + f.basic + "?dry_run=true", "user_not_found"},
		{"DELETE", "/v1/entities/T100/users/alice/roles/" + f.basic + "?dry_run=true", "assignment_not_found"},
		{"DELETE", "/v1/entities/T100/roles/" + f.noApprove + "?dry_run=true", "role_in_use"},
		{"PUT", "/v1/entities/T100/roles/" + f.basic + "?dry_run=true", "missing_field"},
	} {
		st, _, out := s.call(c.method, c.path, map[string]any{})
		if errCode(out) != c.code {
			t.Errorf("%s %s: want %s, got %d %v", c.method, c.path, c.code, st, out)
		}
	}
}

// TestAttackAccessReportGuards: the report needs a token (401), shows
// nothing of another entity (404) and needs the rights to read users and
// roles (403); a user id or role name made to be a spreadsheet formula comes
// out of the CSV as text.
func TestAttackAccessReportGuards(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "OTHER"})
	if st, _, _ := s.callToken("", "GET", "/v1/entities/T100/access-report", nil); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	if st, _, out := s.callToken(f.alice, "GET", "/v1/entities/OTHER/access-report", nil); st != 404 || errCode(out) != "entity_not_found" {
		t.Fatalf("another entity: %d %v", st, out)
	}
	if st, _, out := s.callToken(f.bob, "GET", "/v1/entities/T100/access-report", nil, "Accept", "text/csv"); st != 403 {
		t.Fatalf("bob: %d %v", st, out)
	}
	if st, _, out := s.call("GET", "/v1/entities/nope/access-report", nil); st != 404 {
		t.Fatalf("unknown entity: %d %v", st, out)
	}
	evil := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "@SUM(1+1)", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}}).ID
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "=HYPERLINK(\"http://evil\")", "role_ids": []string{evil}})
	st, _, body := s.report(t, "T100", "text/csv")
	if st != 200 {
		t.Fatalf("csv: %d", st)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		for _, c := range r {
			if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("cell %q reads as a formula", c)
			}
		}
		found = found || r[0] == `'=HYPERLINK("http://evil")`
	}
	if !found {
		t.Fatalf("the user's row is missing: %v", recs)
	}
}

// TestAttackAccessReportOfALargeEntityStreams: the report of an entity of
// 4,000 users (80,000 rows, some 10 MB of JSON) is written as it is made: a
// client that reads its first bytes and goes away stops it, well before its
// end, and nothing of it was built in memory first (the server logs how many
// rows it wrote before the client left).
func TestAttackAccessReportOfALargeEntityStreams(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "big"})
	var objs []any
	for i := 0; i < 20; i++ {
		objs = append(objs, map[string]any{"object_type": fmt.Sprintf("object_%02d", i), "actions": []any{
			map[string]any{"action_name": "read", "permission": "allowed"}}})
	}
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/big/roles", map[string]any{"name": "reader", "permissions": map[string]any{"objects": objs}}).ID
	for b := 0; b < 4; b++ {
		users := importUsers(1000, role)
		for _, u := range users {
			u["id"] = fmt.Sprintf("%d-%s", b, u["id"])
		}
		s.must(200, "POST", "/v1/entities/big/users/import", map[string]any{"users": users})
	}
	req, _ := http.NewRequest("GET", s.base+"/v1/entities/big/access-report", nil)
	req = streamed(req) // read as it comes, left after 64 KiB
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(res.Body, first); err != nil || !bytes.HasPrefix(first, []byte(`{"entity_id":"big"`)) {
		t.Fatalf("first bytes: %v %.100s", err, first)
	}
	res.Body.Close() // the client goes away
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := s.output()
		if i := strings.Index(out, `"msg":"access report cut short"`); i >= 0 {
			line := out[i:]
			line = line[:strings.IndexByte(line, '\n')]
			var rows int
			if j := strings.Index(line, `"rows":`); j < 0 {
				t.Fatalf("no rows in %s", line)
			} else {
				fmt.Sscanf(line[j+len(`"rows":`):], "%d", &rows)
			}
			if rows <= 0 || rows >= 80_000 {
				t.Fatalf("the report stopped after %d of 80000 rows", rows)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the report went on after the client left (no \"access report cut short\" logged)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAttackExpiresAt: an expiry in the past, now, more than 10 years ahead
// or in another format than RFC 3339 is 422 and changes nothing.
func TestAttackExpiresAt(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "r", "permissions": map[string]any{"objects": []any{}}}).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{}})
	path := "/v1/entities/acme/users/ann/roles/" + role
	for _, v := range []any{
		time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano),
		time.Now().AddDate(11, 0, 0).UTC().Format(time.RFC3339),
		"9999-12-31T23:59:59Z",
		"0001-01-01T00:00:00Z",
		"tomorrow",
		"2030-01-01",
		"2030-01-01 10:00:00",
		"2030-01-01T10:00:00",  // no time zone
		"2030-02-30T10:00:00Z", // no such day
		"2030-01-01T25:00:00Z", //
		"1893456000",           // Unix seconds
		"2030-01-01T10:00:00Z" + strings.Repeat("0", 100),
		"",
	} {
		st, _, out := s.call("PUT", path, map[string]any{"expires_at": v})
		if st != 422 || errCode(out) != "invalid_expires_at" {
			t.Errorf("expires_at %.60q: want 422 invalid_expires_at, got %d %v", v, st, out)
		}
	}
	for _, v := range []any{1893456000, true, map[string]any{}} {
		if st, _, out := s.call("PUT", path, map[string]any{"expires_at": v}); st != 400 && st != 422 {
			t.Errorf("expires_at %v: want 400 or 422, got %d %v", v, st, out)
		}
	}
	if r := mustAs[api.Page[api.UserRole]](s, 200, "GET", "/v1/entities/acme/users/ann/roles", nil).Data; len(r) != 0 {
		t.Fatalf("a refused assignment was stored: %v", r)
	}
}
