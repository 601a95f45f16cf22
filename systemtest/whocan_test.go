package systemtest

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"sort"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// extrasFixture is a random policy in entity "acme" made through the API:
// roles with random rights, users holding some of them (one inside a scope),
// some with own rights.
type extrasFixture struct {
	s     *server
	roles []string
	users []string
	rng   *rand.Rand
}

var (
	xObjects = []string{"payable", "receipt", "doc", "*"}
	xActions = []string{"read", "approve", "delete", "*"}
	xPerms   = []string{"allowed", "allowed", "allowed_for_own", "denied", "not_allowed"}
)

func (f *extrasFixture) rights(n int) map[string]any {
	seen := map[string]bool{}
	var objs []any
	for k := 0; k < n; k++ {
		o, a := xObjects[f.rng.IntN(len(xObjects))], xActions[f.rng.IntN(len(xActions))]
		if seen[o+"/"+a] {
			continue
		}
		seen[o+"/"+a] = true
		objs = append(objs, map[string]any{"object_type": o, "actions": []any{
			map[string]any{"action_name": a, "permission": xPerms[f.rng.IntN(len(xPerms))]}}})
	}
	return map[string]any{"objects": objs}
}

func newExtrasFixture(t *testing.T, seed uint64, nRoles, nUsers int) *extrasFixture {
	t.Helper()
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	f := &extrasFixture{s: s, rng: rand.New(rand.NewPCG(seed, 1))}
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	for r := 0; r < nRoles; r++ {
		out := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": fmt.Sprintf("role %d", r), "permissions": f.rights(6)})
		f.roles = append(f.roles, out.ID)
	}
	for u := 0; u < nUsers; u++ {
		id := fmt.Sprintf("u%02d", u)
		s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": id, "role_ids": []string{f.roles[f.rng.IntN(nRoles)]}})
		if f.rng.IntN(3) == 0 {
			s.must(200, "PUT", "/v1/entities/acme/users/"+id+"/roles/"+f.roles[f.rng.IntN(nRoles)], map[string]any{"scope": "team:1"})
		}
		f.users = append(f.users, id)
	}
	return f
}

type holder struct {
	User, Permission string
	Via              []string // role names, "(direct)" for own rights
}

// whoCan pages through who-can with the given page size.
func (f *extrasFixture) whoCan(t *testing.T, obj, act, scope string, limit int) []holder {
	t.Helper()
	q := url.Values{"object_type": {obj}, "action": {act}, "limit": {fmt.Sprint(limit)}}
	if scope != "" {
		q.Set("scope", scope)
	}
	path := "/v1/entities/acme/who-can?" + q.Encode()
	var out []holder
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("who-can does not end")
		}
		page := f.s.must(200, "GET", path, nil)
		for _, d := range page["data"].([]any) {
			d := d.(map[string]any)
			h := holder{User: d["user_id"].(string), Permission: d["permission"].(string)}
			for _, v := range d["via"].([]any) {
				v := v.(map[string]any)
				if v["direct"] == true {
					h.Via = append(h.Via, "(direct)")
				} else {
					h.Via = append(h.Via, v["role_name"].(string))
				}
			}
			sort.Strings(h.Via)
			out = append(out, h)
		}
		next, _ := page["next_pagination_token"].(string)
		if next == "" {
			return out
		}
		path = "/v1/entities/acme/who-can?limit=" + fmt.Sprint(limit) + "&pagination_token=" + url.QueryEscape(next)
	}
}

// checkEveryone asks /v1/check about every user (and, when refused, again on
// the user's own object): the users allowed, with the roles that matched.
func (f *extrasFixture) checkEveryone(t *testing.T, obj, act, scope string) []holder {
	t.Helper()
	var out []holder
	for _, u := range f.users {
		body := map[string]any{"entity_id": "acme", "user_id": u, "object_type": obj, "action": act, "scope": scope, "explain": true}
		d := mustAs[api.Decision](f.s, 200, "POST", "/v1/check", body)
		if !d.Allowed {
			body["owner_id"] = u
			if d = mustAs[api.Decision](f.s, 200, "POST", "/v1/check", body); !d.Allowed {
				continue
			}
		}
		h := holder{User: u, Permission: d.Permission}
		for _, m := range d.Matched {
			if m.Permission != h.Permission {
				continue
			}
			if m.RoleID == nil {
				h.Via = append(h.Via, "(direct)")
			} else {
				h.Via = append(h.Via, *m.RoleName)
			}
		}
		sort.Strings(h.Via)
		out = append(out, h)
	}
	return out
}

// TestWhoCanHTTP: through the real server, who-can (paged two at a time)
// lists exactly the users that /v1/check allows, entity-wide and inside a
// scope, with the roles that allow them, on random policies (a user's own
// rights, shown as a direct via, are proven in policy's oracle test: the
// native API does not set them).
func TestWhoCanHTTP(t *testing.T) {
	f := newExtrasFixture(t, 7, 6, 14)
	asked := 0
	for _, obj := range xObjects[:3] {
		for _, act := range xActions[:3] {
			for _, scope := range []string{"", "team:1"} {
				got, want := f.whoCan(t, obj, act, scope, 2), f.checkEveryone(t, obj, act, scope)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("who can %s %s (scope %q):\n got  %v\n want %v", act, obj, scope, got, want)
				}
				asked += len(want)
			}
		}
	}
	if asked < 20 {
		t.Fatalf("only %d users allowed over all questions: the test proves little", asked)
	}
}
