package systemtest

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Conditional rights (issue 24) through the compatible APIs: none of them can
// say "allowed if", so a conditional right is never shown as allowed (a
// conditional allow is left out, a conditional deny hides what it may deny),
// and a write through them keeps every conditional right it does not name. A
// write naming the same right replaces it with the unconditional value
// written.

const facadeCond = `resource.amount < 100`

// conditionalRole writes, natively, a role mixing conditional and plain
// rights, and returns its id.
func conditionalRole(s *server, entity string) string {
	s.t.Helper()
	act := func(name, perm, cond string) map[string]any {
		a := map[string]any{"action_name": name, "permission": perm}
		if cond != "" {
			a["condition"] = cond
		}
		return a
	}
	role := s.must(201, "POST", "/v1/entities/"+entity+"/roles", map[string]any{"name": "conditional", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{
			act("read", "allowed", ""), act("approve", "allowed", facadeCond), act("update", "allowed", facadeCond),
			act("pay", "allowed_for_own", facadeCond)}},
		map[string]any{"object_type": "receipt", "actions": []any{
			act("*", "allowed", ""), act("delete", "denied", facadeCond)}},
	}}})
	return role["id"].(string)
}

// nativeRights lists "object_type.action=permission[ if condition]" of a role
// as the native API gives it, sorted.
func nativeRights(s *server, entity, id string) []string {
	s.t.Helper()
	var out []string
	for _, o := range arr(get(s.must(200, "GET", "/v1/entities/"+entity+"/roles/"+id, nil), "permissions", "objects")) {
		for _, a := range arr(get(o, "actions")) {
			r := get(o, "object_type").(string) + "." + get(a, "action_name").(string) + "=" + get(a, "permission").(string)
			if c, _ := get(a, "condition").(string); c != "" {
				r += " if " + c
			}
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// Each API's GET of a conditional role: the conditional rights are not
// shown as allowed, the answer fits the API's shape (Monite's published
// schema; Dintero's scope strings; Papershift's true keys) and carries no
// condition.
func TestFacadesNeverShowAConditionalRightAsAllowed(t *testing.T) {
	s := newFacadeServer(t, "T123")
	m := loadMoniteSchema(t, s)
	id := conditionalRole(s, "T123")

	// Monite: payable.read and the receipt wildcard's rights, but not
	// receipt.delete (a conditional deny may apply) nor the conditional
	// payable rights.
	role := m.want(200, "GET", "/v1/roles/"+id, "")
	got := sortedCopy(monitePairs(role))
	want := []string{"payable.read=allowed", "receipt.create=allowed", "receipt.read=allowed", "receipt.update=allowed"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Monite shows %v, want %v", got, want)
	}
	list := m.want(200, "GET", "/v1/roles?name=conditional", "")
	if got := sortedCopy(monitePairs(get(list, "data", 0))); !reflect.DeepEqual(got, want) {
		t.Fatalf("Monite's list shows %v, want %v", got, want)
	}

	// Dintero: allowed scopes only, the plain ones.
	dr := s.expect(200, "GET", "/v1/accounts/T123/auth/roles/"+id, "")
	scopes := strs(get(dr, "scope"))
	for _, sc := range scopes {
		if strings.Count(sc, ":") < 1 || strings.Contains(sc, "if") || strings.Contains(sc, " ") {
			t.Fatalf("Dintero scope %q is not <action>:<resource>", sc)
		}
	}
	if !reflect.DeepEqual(scopes, []string{"read:payable"}) {
		t.Fatalf("Dintero shows %v, want [read:payable]", scopes)
	}

	// Papershift: true keys only, the plain ones.
	pr := s.expect(200, "GET", "/api/v1/roles/"+id, "", paperHdr...)
	rights := obj(get(pr, "data", "attributes", "rights"))
	b, _ := json.Marshal(rights)
	var typed map[string]map[string]bool // Papershift's rights: group -> key -> true
	if err := json.Unmarshal(b, &typed); err != nil {
		t.Fatalf("Papershift rights %s do not parse as groups of booleans: %v", b, err)
	}
	if !reflect.DeepEqual(typed, map[string]map[string]bool{"payable": {"read": true}}) {
		t.Fatalf("Papershift shows %s, want payable.read only", b)
	}

	for _, body := range []any{role, list, dr, pr} {
		if b, _ := json.Marshal(body); strings.Contains(string(b), `"condition"`) || strings.Contains(string(b), "amount") {
			t.Fatalf("a facade shows a condition: %s", b)
		}
	}
}

// A write through each API over a conditional role keeps the conditions it
// did not name; naming the same right makes it unconditional.
func TestFacadeWritesKeepConditions(t *testing.T) {
	s := newFacadeServer(t, "T123")
	m := loadMoniteSchema(t, s)
	id := conditionalRole(s, "T123")
	kept := []string{
		"payable.approve=allowed if " + facadeCond, "payable.pay=allowed_for_own if " + facadeCond,
		"payable.update=allowed if " + facadeCond, "receipt.delete=denied if " + facadeCond,
	}

	// Monite: a read-modify-write leaves the role as it was.
	role := m.want(200, "GET", "/v1/roles/"+id, "")
	b, _ := json.Marshal(map[string]any{"permissions": role["permissions"]})
	before := nativeRights(s, "T123", id)
	m.want(200, "PATCH", "/v1/roles/"+id, string(b))
	if got := nativeRights(s, "T123", id); !reflect.DeepEqual(got, before) {
		t.Fatalf("Monite read-modify-write: %v, want %v", got, before)
	}
	// A "condition" in Monite's body is not Monite's: refused, nothing
	// written.
	m.want(422, "PATCH", "/v1/roles/"+id, `{"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"cancel","permission":"allowed","condition":"true"}]}]}}`)
	if got := nativeRights(s, "T123", id); !reflect.DeepEqual(got, before) {
		t.Fatalf("a refused Monite PATCH changed the role: %v", got)
	}
	// Monite: another right changed; the conditional rights stay.
	m.want(200, "PATCH", "/v1/roles/"+id, `{"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"},{"action_name":"cancel","permission":"allowed"}]}]}}`)
	got := nativeRights(s, "T123", id)
	want := sortedCopy(append([]string{"payable.cancel=allowed", "payable.read=allowed"}, kept...))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after Monite PATCH: %v, want %v", got, want)
	}

	// Dintero: a PUT of other scopes keeps them too.
	s.expect(200, "PUT", "/v1/accounts/T123/auth/roles/"+id, `{"name":"conditional","scope":["read:payable","read:receipt"]}`)
	got = nativeRights(s, "T123", id)
	want = sortedCopy(append([]string{"payable.read=allowed", "receipt.read=allowed"}, kept...))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after Dintero PUT: %v, want %v", got, want)
	}

	// Papershift: a PUT of its rights keeps them; naming payable.update
	// (allowed) replaces the conditional right with a plain one.
	s.expect(200, "PUT", "/api/v1/roles/"+id, `{"data":{"type":"role","attributes":{"rights":{"payable":{"read":true,"update":true}}}}}`, paperHdr...)
	got = nativeRights(s, "T123", id)
	want = []string{
		"payable.approve=allowed if " + facadeCond, "payable.pay=allowed_for_own if " + facadeCond,
		"payable.read=allowed", "payable.update=allowed", "receipt.delete=denied if " + facadeCond,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after Papershift PUT naming payable.update: %v, want %v", got, want)
	}

	// The engine still reads the kept conditions.
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "u-1", "role_ids": []string{id}})
	decide := func(amount float64) bool {
		out := s.must(200, "POST", "/v1/check", map[string]any{"entity_id": "T123", "user_id": "u-1",
			"object_type": "payable", "action": "approve", "resource": map[string]any{"amount": amount}})
		return out["allowed"] == true
	}
	if !decide(50) || decide(500) {
		t.Fatal("the kept condition does not decide payable.approve")
	}
	if !s.checkAllowed("T123", "u-1", "payable", "update", "") {
		t.Fatal("payable.update, written allowed through Papershift, is not allowed")
	}
}
