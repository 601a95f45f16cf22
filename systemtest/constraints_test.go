package systemtest

import (
	"encoding/csv"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/api"
)

// Separation of duties on the real program: every write path is refused
// with 409 separation_of_duties (each facade in its own shape) and changes
// nothing; dry runs report; report mode, exceptions and the violations
// listing; other tenants' constraint ids and entity users without the
// constraint right get nothing.

const sodEntity = "T12345678" // a Dintero account id too

type sodFixture struct {
	s                               *server
	maker, checker, noApprove, both string // role ids
	k                               api.Constraint
}

func sodRole(s *server, entity, name string, def bool, triples ...string) string {
	s.t.Helper()
	var objs []any
	for i := 0; i+2 < len(triples); i += 3 {
		objs = append(objs, map[string]any{"object_type": triples[i], "actions": []any{
			map[string]any{"action_name": triples[i+1], "permission": triples[i+2]}}})
	}
	return mustAs[api.Role](s, 201, "POST", "/v1/entities/"+entity+"/roles", map[string]any{"name": name, "default": def,
		"permissions": map[string]any{"objects": objs}}).ID
}

var makerChecker = []map[string]string{{"object_type": "payable", "action": "create"}, {"object_type": "payable", "action": "approve"}}

// newSoDFixture: alice holds maker (payable:create); carol holds maker,
// checker and no-approve (approve denied: she holds only create); "both"
// (create and approve) is held by nobody; maker-checker is enforced.
func newSoDFixture(t *testing.T, env map[string]string) *sodFixture {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["ROLEGATE_DATABASE_URL"] = sqliteURL(t)
	s := startServer(t, env)
	s.must(201, "POST", "/v1/entities", map[string]any{"id": sodEntity})
	f := &sodFixture{s: s}
	f.maker = sodRole(s, sodEntity, "maker", false, "payable", "create", "allowed")
	f.checker = sodRole(s, sodEntity, "checker", false, "payable", "approve", "allowed")
	f.noApprove = sodRole(s, sodEntity, "no-approve", false, "payable", "approve", "denied")
	f.both = sodRole(s, sodEntity, "both", false, "payable", "create", "allowed")
	s.must(201, "POST", "/v1/entities/"+sodEntity+"/users", map[string]any{"id": "alice", "role_ids": []string{f.maker}})
	s.must(201, "POST", "/v1/entities/"+sodEntity+"/users", map[string]any{"id": "carol", "role_ids": []string{f.maker, f.checker, f.noApprove}})
	f.k = mustAs[api.Constraint](s, 201, "POST", "/v1/entities/"+sodEntity+"/constraints", map[string]any{
		"name": "maker-checker", "description": "no one both creates and approves a payable", "rights": makerChecker})
	if f.k.Mode != "enforce" || len(f.k.Rights) != 2 || f.k.ID == "" || f.k.CreatedBy == "" {
		t.Fatalf("constraint: %+v", f.k)
	}
	return f
}

// state is what a refused write must leave as it was: the entity's
// revision, its users with their roles, its roles and its audit log.
func (f *sodFixture) state() string {
	f.s.t.Helper()
	var b strings.Builder
	for _, p := range []string{"", "/users?expand=roles&limit=100", "/roles?limit=100&status=all", "/audit-events?limit=100"} {
		_, _, data := f.s.exchange(false, testToken, "GET", "/v1/entities/"+sodEntity+p, nil)
		b.Write(data)
	}
	return b.String()
}

// refused wants a 409 separation_of_duties naming the constraint and user
// (in scope), with the constraint's two rights.
func refusedSoD(t *testing.T, what string, st int, out map[string]any, user, scope string) {
	t.Helper()
	if st != 409 || errCode(out) != "separation_of_duties" {
		t.Errorf("%s: want 409 separation_of_duties, got %d %v", what, st, out)
		return
	}
	var body api.ErrorBody
	b, _ := json.Marshal(out)
	_ = json.Unmarshal(b, &body)
	for _, v := range body.Error.Violations {
		if v.UserID == user && v.Scope == scope && v.ConstraintName == "maker-checker" && len(v.Rights) == 2 {
			return
		}
	}
	t.Errorf("%s: no violation of maker-checker by %s in %q: %s", what, user, scope, b)
}

func TestSeparationOfDutiesEveryWritePath(t *testing.T) {
	f := newSoDFixture(t, nil)
	s := f.s
	E := "/v1/entities/" + sodEntity
	both := map[string]any{"objects": []any{map[string]any{"object_type": "payable", "actions": []any{
		map[string]any{"action_name": "create", "permission": "allowed"}, map[string]any{"action_name": "approve", "permission": "allowed"}}}}}
	// Papershift's rights are create, read, update and delete.
	s.must(201, "POST", E+"/constraints", map[string]any{"name": "create-update", "rights": []map[string]string{
		{"object_type": "payable", "action": "create"}, {"object_type": "payable", "action": "update"}}})
	before := f.state()

	// Native writes.
	st, _, out := s.callBad("PUT", E+"/users/alice/roles/"+f.checker, map[string]any{})
	refusedSoD(t, "assign checker to alice", st, out, "alice", "")
	st, _, out = s.callBad("PUT", E+"/users/alice/roles/"+f.checker, map[string]any{"scope": "team:1"})
	refusedSoD(t, "assign checker to alice in team:1", st, out, "alice", "team:1")
	st, _, out = s.callBad("PUT", E+"/roles/"+f.maker, map[string]any{"name": "maker", "permissions": both})
	refusedSoD(t, "PUT maker with approve", st, out, "alice", "")
	st, _, out = s.callBad("PATCH", E+"/roles/"+f.maker, map[string]any{"permissions": both})
	refusedSoD(t, "PATCH maker with approve", st, out, "alice", "") // not carol: her deny masks approve
	st, _, out = s.callBad("DELETE", E+"/roles/"+f.noApprove+"?force=true", nil)
	refusedSoD(t, "delete the deny carol holds", st, out, "carol", "")
	st, _, out = s.callBad("DELETE", E+"/users/carol/roles/"+f.noApprove, nil)
	refusedSoD(t, "unassign the deny from carol", st, out, "carol", "")
	st, _, out = s.callBad("POST", E+"/users", map[string]any{"id": "dave", "role_ids": []string{f.maker, f.checker}})
	refusedSoD(t, "create dave with both", st, out, "dave", "")
	st, _, out = s.callBad("PATCH", E+"/users/alice", map[string]any{"role_ids": []string{f.maker, f.checker}})
	refusedSoD(t, "PATCH alice's roles", st, out, "alice", "")
	st, _, out = s.callBad("POST", E+"/users/import", map[string]any{"users": []any{
		map[string]any{"id": "erin", "role_ids": []string{}},
		map[string]any{"id": "frank", "role_ids": []string{f.maker}, "scoped_roles": []any{map[string]any{"scope": "team:2", "role_ids": []string{f.checker}}}}}})
	refusedSoD(t, "import frank with checker in team:2", st, out, "frank", "team:2")

	// Facades: Monite, Dintero (roles and a user's own scopes), Papershift
	// (roles and team memberships), each in its own error shape.
	monite := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", sodEntity}
	mst, _, mout := s.raw("PATCH", "/v1/roles/"+f.maker, `{"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"create","permission":"allowed"},{"action_name":"approve","permission":"allowed"}]}]}}`, monite...)
	if msg, _ := get(mout, "error", "message").(string); mst != 409 || !strings.Contains(msg, `"maker-checker"`) || !strings.Contains(msg, "alice") {
		t.Errorf("Monite PATCH: %d %v", mst, mout)
	}
	dintero := "/v1/accounts/" + sodEntity
	dst, _, dout := s.raw("PUT", dintero+"/auth/roles/"+f.maker, `{"scope":["create:payable","approve:payable"]}`)
	if msg, _ := get(dout, "error", "message").(string); dst != 400 || get(dout, "error", "code") != "separation_of_duties" || !strings.Contains(msg, "maker-checker") {
		t.Errorf("Dintero role PUT: %d %v", dst, dout)
	}
	dst, _, dout = s.raw("POST", dintero+"/management/users", `{"email":"gus@example.com","scope":["create:payable","approve:payable"]}`)
	if dst != 400 || get(dout, "error", "code") != "separation_of_duties" {
		t.Errorf("Dintero user with its own scopes: %d %v", dst, dout)
	}
	paper := []string{"X-Entity-Id", sodEntity, "Content-Type", "application/vnd.api+json"}
	pst, _, pout := s.raw("PUT", "/api/v1/roles/"+f.maker, `{"data":{"type":"role","attributes":{"rights":{"payable":{"create":true,"update":true}}}}}`, paper...)
	if detail, _ := get(pout, "errors", 0, "detail").(string); pst != 409 || get(pout, "errors", 0, "code") != "separation_of_duties" || !strings.Contains(detail, "create-update") || !strings.Contains(detail, "alice") {
		t.Errorf("Papershift role PUT: %d %v", pst, pout)
	}
	pst, _, pout = s.raw("POST", "/api/v1/team_memberships", `{"data":{"type":"team_membership","attributes":{"team_id":3,"user_id":"alice","role_ids":["`+f.checker+`"]}}}`, paper...)
	if pst != 409 || get(pout, "errors", 0, "code") != "separation_of_duties" {
		t.Errorf("Papershift team membership: %d %v", pst, pout)
	}

	if after := f.state(); after != before {
		t.Fatalf("a refused write changed something:\nbefore %s\nafter  %s", before, after)
	}

	// A dry run answers the violations beside gained and lost, and refuses
	// nothing.
	dry := mustAs[api.DryRun](s, 200, "PUT", E+"/users/alice/roles/"+f.checker+"?dry_run=true", map[string]any{})
	if len(dry.Violations) != 1 || dry.Violations[0].UserID != "alice" || len(dry.Gained) != 1 {
		t.Errorf("dry run: %+v", dry)
	}
	// A write that breaks nothing goes through.
	s.must(200, "PUT", E+"/users/alice/roles/"+f.maker, map[string]any{"scope": "team:1"})

	// The constraint's own writes: audited, with the revision.
	st, h, _ := s.call("PUT", E+"/constraints/"+f.k.ID, map[string]any{"name": "maker-checker", "rights": makerChecker,
		"exceptions": []any{map[string]any{"user_id": "alice", "reason": "two-person office, holiday cover", "expires_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}}})
	if st != 200 || h.Get("X-Rolegate-Revision") == "" {
		t.Fatalf("PUT with an exception: %d %v", st, h)
	}
	// With the exception alice may hold both, carol still not.
	s.must(200, "PUT", E+"/users/alice/roles/"+f.checker, map[string]any{})
	st, _, out = s.callBad("DELETE", E+"/users/carol/roles/"+f.noApprove, nil)
	refusedSoD(t, "carol without an exception", st, out, "carol", "")
	v := mustAs[api.Violations](s, 200, "GET", E+"/constraints/"+f.k.ID+"/violations", nil)
	if len(v.Data) != 0 || v.Revision < 1 {
		t.Errorf("violations with alice excepted: %+v", v)
	}
	events := s.must(200, "GET", E+"/audit-events?object_type=constraint", nil)
	if n := len(arr(events["data"])); n != 3 || !strings.Contains(mustJSON(events), "holiday cover") {
		t.Errorf("audit of the constraint: %v", events)
	}
	// Exceptions must expire in the future.
	st, _, out = s.callBad("PUT", E+"/constraints/"+f.k.ID, map[string]any{"name": "maker-checker", "rights": makerChecker,
		"exceptions": []any{map[string]any{"user_id": "carol", "reason": "x", "expires_at": "2001-01-01T00:00:00Z"}}})
	if st != 422 {
		t.Errorf("an exception in the past: %d %v", st, out)
	}
}

// Found in what exists: enforce over an entity in violation is refused,
// report is stored; violations list who and how; the access report marks
// them (JSON and CSV); switching to enforce waits for zero violations.
func TestSeparationOfDutiesReportMode(t *testing.T) {
	f := newSoDFixture(t, nil)
	s := f.s
	E := "/v1/entities/" + sodEntity
	setup := sodRole(s, sodEntity, "setup", false, "counterpart", "create", "allowed")
	pay := sodRole(s, sodEntity, "pay", false, "payment", "create", "allowed")
	s.must(201, "POST", E+"/users", map[string]any{"id": "bob", "role_ids": []string{setup}})
	s.must(200, "PUT", E+"/users/bob/roles/"+pay, map[string]any{"scope": "team:7"})
	body := map[string]any{"name": "pay-setup", "rights": []map[string]string{{"object_type": "counterpart", "action": "create"}, {"object_type": "payment", "action": "create"}}}
	rev := s.must(200, "GET", E, nil)["revision"]
	st, _, out := s.callBad("POST", E+"/constraints", body)
	if st != 409 || errCode(out) != "separation_of_duties" || !strings.Contains(mustJSON(out), `"bob"`) {
		t.Fatalf("enforce over a violation: %d %v", st, out)
	}
	if got := s.must(200, "GET", E, nil)["revision"]; got != rev {
		t.Fatalf("a refused constraint moved the revision %v -> %v", rev, got)
	}
	body["mode"] = "report"
	k := mustAs[api.Constraint](s, 201, "POST", E+"/constraints", body)
	if k.Mode != "report" {
		t.Fatalf("report: %+v", k)
	}
	v := mustAs[api.Violations](s, 200, "GET", E+"/constraints/"+k.ID+"/violations", nil)
	if len(v.Data) != 1 || v.Data[0].UserID != "bob" || v.Data[0].Scope != "team:7" || len(v.Data[0].Rights) != 2 {
		t.Fatalf("violations: %s", mustJSON(v))
	}
	for _, r := range v.Data[0].Rights {
		if len(r.Roles) != 1 || (r.ObjectType == "payment" && r.Roles[0].Scope != "team:7") {
			t.Errorf("how bob holds %s: %+v", r.ObjectType, r.Roles)
		}
	}
	// A report constraint refuses nothing.
	s.must(201, "POST", E+"/users", map[string]any{"id": "hal", "role_ids": []string{setup, pay}})
	// The access report marks bob and hal, not alice.
	_, _, data := s.exchange(false, testToken, "GET", E+"/access-report", nil)
	var rep struct {
		Data []struct {
			UserID   string   `json:"user_id"`
			Violates []string `json:"violates"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	marked := map[string]string{}
	for _, r := range rep.Data {
		marked[r.UserID] = strings.Join(r.Violates, ";")
	}
	if marked["bob"] != "pay-setup" || marked["hal"] != "pay-setup" || marked["alice"] != "" {
		t.Errorf("report marks: %v", marked)
	}
	_, _, csvData := s.exchange(false, testToken, "GET", E+"/access-report", nil, "Accept", "text/csv")
	rows, err := csv.NewReader(strings.NewReader(string(csvData))).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][len(rows[0])-1] != "violates" {
		t.Fatalf("CSV: %v %q", err, csvData)
	}
	for _, r := range rows[1:] {
		if want := marked[r[0]]; r[len(r)-1] != want {
			t.Errorf("CSV row %v: violates %q, want %q", r, r[len(r)-1], want)
		}
	}
	// Enforce only once nobody is in violation.
	body["mode"] = "enforce"
	st, _, out = s.callBad("PUT", E+"/constraints/"+k.ID, body)
	if st != 409 || errCode(out) != "separation_of_duties" {
		t.Fatalf("switch to enforce with violations: %d %v", st, out)
	}
	s.must(204, "DELETE", E+"/users/bob/roles/"+pay+"?scope=team:7", nil)
	s.must(200, "PATCH", E+"/users/hal", map[string]any{"role_ids": []string{setup}})
	if k2 := mustAs[api.Constraint](s, 200, "PUT", E+"/constraints/"+k.ID, body); k2.Mode != "enforce" {
		t.Fatalf("switch to enforce: %+v", k2)
	}
	list := s.must(200, "GET", E+"/constraints", nil)
	if names := mustJSON(list["data"]); !strings.Contains(names, "maker-checker") || !strings.Contains(names, "pay-setup") {
		t.Errorf("list: %v", list)
	}
	// Names are unique in the entity; delete is 204 then 404.
	st, _, out = s.callBad("POST", E+"/constraints", map[string]any{"name": "pay-setup", "rights": makerChecker})
	if st != 409 || errCode(out) != "constraint_name_taken" {
		t.Errorf("a name taken: %d %v", st, out)
	}
	s.must(204, "DELETE", E+"/constraints/"+k.ID, nil)
	if st, _, out := s.callBad("GET", E+"/constraints/"+k.ID, nil); st != 404 || errCode(out) != "constraint_not_found" {
		t.Errorf("deleted: %d %v", st, out)
	}
}

// A role template's default role holding both rights: every new user would
// get it, and is refused.
func TestSeparationOfDutiesRoleTemplates(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "templates.json")
	os.WriteFile(tmpl, []byte(`{"roles":[{"name":"member","default":true,"permissions":{"objects":[{"object_type":"payable","actions":[
		{"action_name":"create","permission":"allowed"},{"action_name":"approve","permission":"allowed"}]}]}}]}`), 0o600)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_ROLE_TEMPLATES": tmpl})
	E := "/v1/entities/" + sodEntity
	s.must(201, "POST", "/v1/entities", map[string]any{"id": sodEntity})
	s.must(201, "POST", E+"/constraints", map[string]any{"name": "maker-checker", "rights": makerChecker})
	st, _, out := s.callBad("POST", E+"/users", map[string]any{"id": "ivy"})
	refusedSoD(t, "a user given the template's default role", st, out, "ivy", "")
	if st, _, _ := s.callBad("GET", E+"/users/ivy", nil); st != 404 {
		t.Errorf("ivy was stored: %d", st)
	}
	st, _, out = s.callBad("POST", "/v1/accounts/"+sodEntity+"/management/users", `{"email":"jo@example.com"}`)
	if st != 400 || errCode(out) != "separation_of_duties" {
		t.Errorf("Dintero user with the default role: %d %v", st, out)
	}
}

// Attacks: another tenant's constraint ids answer 404 whatever the call;
// an entity user without the constraint right sees and changes nothing;
// unknown fields and too many rights are refused.
func TestSeparationOfDutiesAttacks(t *testing.T) {
	f := newEscalationFixture(t) // alice manages roles and users of T100, not constraints
	s := f.s
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T200"})
	theirs := mustAs[api.Constraint](s, 201, "POST", "/v1/entities/T200/constraints", map[string]any{"name": "theirs", "rights": makerChecker})
	ours := mustAs[api.Constraint](s, 201, "POST", "/v1/entities/T100/constraints", map[string]any{"name": "ours", "rights": makerChecker})
	other := "/v1/entities/T100/constraints/" + url.PathEscape(theirs.ID)
	for _, c := range []struct{ method, path string }{{"GET", other}, {"PUT", other}, {"DELETE", other}, {"GET", other + "/violations"}} {
		var body any
		if c.method == "PUT" {
			body = map[string]any{"name": "stolen", "rights": makerChecker}
		}
		if st, _, out := s.callBad(c.method, c.path, body); st != 404 || errCode(out) != "constraint_not_found" {
			t.Errorf("%s another tenant's constraint: %d %v", c.method, st, out)
		}
	}
	if got := mustAs[api.Constraint](s, 200, "GET", "/v1/entities/T200/constraints/"+theirs.ID, nil); got.Name != "theirs" {
		t.Fatalf("T200's constraint changed: %+v", got)
	}
	// alice holds role:* and user:* but no constraint right.
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/entities/T100/constraints", nil},
		{"POST", "/v1/entities/T100/constraints", map[string]any{"name": "mine", "rights": makerChecker}},
		{"GET", "/v1/entities/T100/constraints/" + ours.ID, nil},
		{"PUT", "/v1/entities/T100/constraints/" + ours.ID, map[string]any{"name": "ours", "rights": makerChecker,
			"exceptions": []any{map[string]any{"user_id": "alice", "reason": "me", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}}},
		{"DELETE", "/v1/entities/T100/constraints/" + ours.ID, nil},
		{"GET", "/v1/entities/T100/constraints/" + ours.ID + "/violations", nil},
	} {
		if st, _, out := s.send(true, f.alice, c.method, c.path, c.body); st != 403 {
			t.Errorf("alice %s %s: %d %v", c.method, c.path, st, out)
		}
	}
	// bob, of another tenant's token, finds nothing of T100.
	f2 := f.idp.token(t, jwt.MapClaims{"sub": "mallory", "tenant": "T200"})
	if st, _, out := s.send(true, f2, "GET", "/v1/entities/T100/constraints", nil); st != 404 {
		t.Errorf("a T200 user lists T100's constraints: %d %v", st, out)
	}
	if got := mustAs[api.Constraint](s, 200, "GET", "/v1/entities/T100/constraints/"+ours.ID, nil); len(got.Exceptions) != 0 {
		t.Fatalf("alice changed the constraint: %+v", got)
	}
	// Bad bodies: unknown fields, too many rights, wildcards, one right.
	for _, b := range []map[string]any{
		{"name": "x", "rights": makerChecker, "owner": "me"},
		{"name": "x", "rights": []map[string]string{{"object_type": "payable", "action": "*"}, {"object_type": "payable", "action": "create"}}},
		{"name": "x", "rights": makerChecker[:1]},
		{"name": "", "rights": makerChecker},
		{"name": "x", "rights": makerChecker, "mode": "sometimes"},
	} {
		if st, _, out := s.callBad("POST", "/v1/entities/T100/constraints", b); st != 422 {
			t.Errorf("%v: %d %v", b, st, out)
		}
	}
	many := []map[string]string{}
	for i := 0; i < 1000; i++ {
		many = append(many, map[string]string{"object_type": "o", "action": "a" + strings.Repeat("x", i%7) + string(rune('a'+i%26))})
	}
	if st, _, out := s.callBad("POST", "/v1/entities/T100/constraints", map[string]any{"name": "many", "rights": many}); st != 422 || errCode(out) != "too_many_rights" {
		t.Errorf("1,000 rights: %d %v", st, out)
	}
	if list := s.must(200, "GET", "/v1/entities/T100/constraints", nil); len(arr(list["data"])) != 1 {
		t.Errorf("T100's constraints: %v", list)
	}
}
