package systemtest

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// effective reads every user's effective rights through the API, as
// "user scope object/action=permission" lines (allowed and
// allowed_for_own), entity-wide (scope "-") and inside team:1.
func (f *extrasFixture) effective(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, u := range f.users {
		for _, scope := range []string{"", "team:1"} {
			p := mustAs[api.Permissions](f.s, 200, "GET", "/v1/entities/acme/users/"+u+"/permissions?scope="+scope, nil)
			for _, o := range p.Objects {
				for _, a := range o.Actions {
					if a.Permission != "allowed" && a.Permission != "allowed_for_own" {
						continue
					}
					sc := scope
					if sc == "" {
						sc = "-"
					}
					out[fmt.Sprintf("%s %s %s/%s=%s", u, sc, o.ObjectType, a.ActionName, a.Permission)] = true
				}
			}
		}
	}
	return out
}

func rightLines(items []any) []string {
	out := []string{}
	for _, it := range items {
		it := it.(map[string]any)
		scope, _ := it["scope"].(string)
		if scope == "" {
			scope = "-"
		}
		out = append(out, fmt.Sprintf("%s %s %s/%s=%s", it["user_id"], scope, it["object_type"], it["action"], it["permission"]))
	}
	sort.Strings(out)
	return out
}

// diffLines are the lines of b not in a, a change inside team:1 left out
// when the same change happens entity-wide (a dry run reports it once).
func diffLines(a, b map[string]bool) []string {
	out := []string{}
	for k := range b {
		if a[k] {
			continue
		}
		if wide := strings.Replace(k, " team:1 ", " - ", 1); wide != k && b[wide] && !a[wide] {
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDryRunHTTP: through the real server, each role PUT/PATCH/DELETE and
// assignment PUT/DELETE is first sent with ?dry_run=true: it answers 200
// with gained and lost equal to the difference of every user's effective
// rights before and after the same request sent for real, and leaves the
// entity's revision, the audit log and the rights untouched.
func TestDryRunHTTP(t *testing.T) {
	f := newExtrasFixture(t, 11, 5, 10)
	s := f.s
	type req struct {
		method, path string
		body         any
	}
	revision := func() int64 { return mustAs[api.Entity](s, 200, "GET", "/v1/entities/acme", nil).Revision }
	audits := func() int {
		return len(mustAs[api.Page[api.AuditEvent]](s, 200, "GET", "/v1/entities/acme/audit-events?limit=100", nil).Data)
	}
	changed := 0
	for i := 0; i < 16; i++ {
		role := f.roles[f.rng.IntN(len(f.roles))]
		user := f.users[f.rng.IntN(len(f.users))]
		var r req
		switch i % 5 {
		case 0:
			r = req{"PATCH", "/v1/entities/acme/roles/" + role, map[string]any{"permissions": f.rights(6)}}
		case 1:
			r = req{"PUT", "/v1/entities/acme/roles/" + role, map[string]any{"name": fmt.Sprintf("put %d", i), "permissions": f.rights(6)}}
		case 2:
			r = req{"PUT", "/v1/entities/acme/users/" + user + "/roles/" + role, map[string]any{"scope": []any{nil, "team:1"}[f.rng.IntN(2)]}}
		case 3:
			r = req{"DELETE", "/v1/entities/acme/users/" + user + "/roles/" + role, nil}
		case 4:
			if i == 14 {
				r = req{"DELETE", "/v1/entities/acme/roles/" + role + "?force=true", nil}
			} else {
				r = req{"PUT", "/v1/entities/acme/users/" + user + "/roles/" + role, nil}
			}
		}
		before, rev, nAudit := f.effective(t), revision(), audits()
		sep := "?"
		if i == 14 {
			sep = "&"
		}
		st, _, dry := s.call(r.method, r.path+sep+"dry_run=true", r.body)
		if revision() != rev || audits() != nAudit || !reflect.DeepEqual(f.effective(t), before) {
			t.Fatalf("%s %s dry run changed something", r.method, r.path)
		}
		realSt, _, real := s.call(r.method, r.path, r.body)
		if realSt >= 300 {
			if st != realSt || errCode(dry) != errCode(real) {
				t.Fatalf("%s %s: dry run %d %v, real %d %v", r.method, r.path, st, dry, realSt, real)
			}
			continue
		}
		if st != 200 || dry["dry_run"] != true {
			t.Fatalf("%s %s dry run: %d %v", r.method, r.path, st, dry)
		}
		after := f.effective(t)
		want := diffLines(before, after)
		lost := diffLines(after, before)
		got, gotLost := rightLines(dry["gained"].([]any)), rightLines(dry["lost"].([]any))
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotLost, lost) {
			t.Fatalf("%s %s: dry run gained %v lost %v; the write gained %v lost %v", r.method, r.path, got, gotLost, want, lost)
		}
		if len(want)+len(lost) > 0 {
			changed++
		}
	}
	if changed < 5 {
		t.Fatalf("only %d writes changed rights: the test proves little", changed)
	}
}

// TestExplainRefusalHTTP: an explained refusal says why and what would
// change it: denied names the denying roles; not_allowed names the roles
// whose assignment would allow it, and not one that also denies it.
func TestExplainRefusalHTTP(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := func(name string, triples ...string) string {
		var objs []any
		for i := 0; i+2 < len(triples); i += 3 {
			objs = append(objs, map[string]any{"object_type": triples[i], "actions": []any{
				map[string]any{"action_name": triples[i+1], "permission": triples[i+2]}}})
		}
		return mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": name, "permissions": map[string]any{"objects": objs}}).ID
	}
	approver := role("approver", "payable", "approve", "allowed")
	role("all payables", "payable", "*", "allowed")
	role("approve and deny", "payable", "approve", "allowed", "payable", "*", "denied")
	role("own approver", "payable", "approve", "allowed_for_own")
	frozen := role("frozen", "*", "approve", "denied")
	role("reader", "payable", "read", "allowed")
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{}})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "dan", "role_ids": []string{frozen, approver}})

	names := func(items []api.Match) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, *it.RoleName)
		}
		return out
	}
	// A nil slice is an absent (or null) list, as the map's nil was; [] is not.
	d := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve", "explain": true})
	if d.Permission != "not_allowed" || !reflect.DeepEqual(names(d.GrantableBy), []string{"admin", "all payables", "approver"}) {
		t.Fatalf("not_allowed: %v", d)
	}
	d = mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve", "owner_id": "ann", "explain": true})
	if !reflect.DeepEqual(names(d.GrantableBy), []string{"admin", "all payables", "approver", "own approver"}) {
		t.Fatalf("not_allowed on own object: %v", d)
	}
	d = mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "dan", "object_type": "payable", "action": "approve", "explain": true})
	if d.Permission != "denied" || !reflect.DeepEqual(names(d.DeniedBy), []string{"frozen"}) || d.GrantableBy != nil {
		t.Fatalf("denied: %v", d)
	}
	d = mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve"})
	if d.GrantableBy != nil || d.Matched != nil {
		t.Fatalf("unexplained: %v", d)
	}
	d = mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "dan", "object_type": "payable", "action": "read", "explain": true})
	if !reflect.DeepEqual(names(d.GrantableBy), []string{"admin", "all payables", "reader"}) {
		t.Fatalf("not_allowed read: %v", d)
	}
}
