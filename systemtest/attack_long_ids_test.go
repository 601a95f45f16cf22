package systemtest

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestLongIDsListedHTTP: a user id too long for a rule's subject (150
// characters), and a scope too long with a short user id, are stored as
// hashes; who-can, the access report and dry runs still name the user and the
// scope, on the server that made the writes (its engine fed by their deltas)
// and on a server started afterwards on the same SQLite file (a full load).
func TestLongIDsListedHTTP(t *testing.T) {
	db := sqliteURL(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db})
	long := "u-" + strings.Repeat("l", 148)
	longScope := "team:" + strings.Repeat("t", 123)
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := func(name, obj string, acts ...string) string {
		var as []any
		for _, a := range acts {
			as = append(as, map[string]any{"action_name": a, "permission": "allowed"})
		}
		return s.must(201, "POST", "/v1/entities/acme/roles", map[string]any{"name": name,
			"permissions": map[string]any{"objects": []any{map[string]any{"object_type": obj, "actions": as}}}})["id"].(string)
	}
	reader, writer := role("reader", "doc", "read"), role("writer", "doc", "write")
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": long, "role_ids": []string{reader}})
	s.must(200, "PUT", "/v1/entities/acme/users/"+url.PathEscape(long)+"/roles/"+writer, map[string]any{"scope": "team:1"})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "bob"})
	s.must(200, "PUT", "/v1/entities/acme/users/bob/roles/"+writer, map[string]any{"scope": longScope})

	check := func(t *testing.T, s *server) {
		t.Helper()
		// Checks always worked (the request hashes the same way).
		for _, q := range [][3]string{{long, "read", ""}, {long, "write", "team:1"}, {"bob", "write", longScope}} {
			d := s.must(200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": q[0], "object_type": "doc", "action": q[1], "scope": q[2]})
			if d["allowed"] != true {
				t.Fatalf("check %.12s %s in %.12q: %v", q[0], q[1], q[2], d)
			}
		}
		whoCan := []struct {
			act, scope string
			want       []string
		}{
			{"read", "", []string{long + " allowed reader"}},
			{"write", "", []string{}},
			{"write", "team:1", []string{long + " allowed writer"}},
			{"write", longScope, []string{"bob allowed writer"}},
		}
		for _, q := range whoCan {
			v := url.Values{"object_type": {"doc"}, "action": {q.act}}
			if q.scope != "" {
				v.Set("scope", q.scope)
			}
			got := []string{}
			for _, d := range s.must(200, "GET", "/v1/entities/acme/who-can?"+v.Encode(), nil)["data"].([]any) {
				d := d.(map[string]any)
				var via []string
				for _, m := range d["via"].([]any) {
					via = append(via, fmt.Sprint(m.(map[string]any)["role_name"]))
				}
				got = append(got, fmt.Sprintf("%s %s %s", d["user_id"], d["permission"], strings.Join(via, ",")))
			}
			if !reflect.DeepEqual(got, q.want) {
				t.Errorf("who can %s doc in %.12q: %q, want %q", q.act, q.scope, got, q.want)
			}
		}

		rep := s.must(200, "GET", "/v1/entities/acme/access-report", nil)
		var rows []string
		for _, r := range rep["data"].([]any) {
			r := r.(map[string]any)
			scope, _ := r["scope"].(string)
			var via []string
			for _, m := range r["via"].([]any) {
				via = append(via, fmt.Sprint(m.(map[string]any)["role_name"]))
			}
			rows = append(rows, fmt.Sprintf("%s|%s|%s/%s=%s %s", r["user_id"], scope, r["object_type"], r["action"], r["permission"], strings.Join(via, ",")))
		}
		want := []string{
			"bob|" + longScope + "|doc/write=allowed writer",
			long + "||doc/read=allowed reader",
			long + "|team:1|doc/write=allowed writer",
		}
		if !reflect.DeepEqual(rows, want) {
			t.Errorf("access report:\n%q\nwant\n%q", rows, want)
		}

		dryRuns := []struct {
			method, path string
			body         any
			gained, lost []string
		}{
			{"PATCH", "/v1/entities/acme/roles/" + writer, map[string]any{"permissions": map[string]any{"objects": []any{map[string]any{"object_type": "doc",
				"actions": []any{map[string]any{"action_name": "write", "permission": "allowed"}, map[string]any{"action_name": "delete", "permission": "allowed"}}}}}},
				[]string{"bob " + longScope + " doc/delete=allowed", long + " team:1 doc/delete=allowed"}, []string{}},
			{"DELETE", "/v1/entities/acme/users/" + url.PathEscape(long) + "/roles/" + reader, nil,
				[]string{}, []string{long + " - doc/read=allowed"}},
			{"PUT", "/v1/entities/acme/users/" + url.PathEscape(long) + "/roles/" + writer, map[string]any{"scope": "team:2"},
				[]string{long + " team:2 doc/write=allowed"}, []string{}},
			{"PUT", "/v1/entities/acme/users/bob/roles/" + reader, map[string]any{"scope": longScope},
				[]string{"bob " + longScope + " doc/read=allowed"}, []string{}},
		}
		for _, d := range dryRuns {
			out := s.must(200, d.method, d.path+"?dry_run=true", d.body)
			gained, lost := rightLines(out["gained"].([]any)), rightLines(out["lost"].([]any))
			if !reflect.DeepEqual(gained, d.gained) || !reflect.DeepEqual(lost, d.lost) {
				t.Errorf("dry run %s %.60s: gained %q lost %q, want %q and %q", d.method, d.path, gained, lost, d.gained, d.lost)
			}
		}
	}
	t.Run("deltas", func(t *testing.T) { check(t, s) })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	t.Run("full load", func(t *testing.T) { check(t, startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db})) })
}
