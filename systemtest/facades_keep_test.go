package systemtest

import (
	"reflect"
	"testing"
)

// A write through a facade never loses what that facade cannot show: rights
// of values or object types it has no words for stay on the role.
func TestFacadeWritesKeepWhatTheyCannotShow(t *testing.T) {
	s := newFacadeServer(t, "T12345678")
	act := func(name, perm string) map[string]any { return map[string]any{"action_name": name, "permission": perm} }
	role := s.must(201, "POST", "/v1/entities/T12345678/roles", map[string]any{"name": "clerk", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{act("read", "allowed"), act("approve", "allowed_for_own"), act("delete", "denied"), act("pay", "allowed")}},
		map[string]any{"object_type": "doc", "actions": []any{act("read", "allowed")}},
	}}})
	id := role["id"].(string)
	rights := func() map[string]string {
		out := map[string]string{}
		for _, o := range arr(get(s.must(200, "GET", "/v1/entities/T12345678/roles/"+id, nil), "permissions", "objects")) {
			for _, a := range arr(get(o, "actions")) {
				out[get(o, "object_type").(string)+":"+get(a, "action_name").(string)] = get(a, "permission").(string)
			}
		}
		return out
	}
	admin := []string{"Authorization", "Bearer " + testToken}

	// Dintero shows allowed rights only: own and denied stay.
	s.expect(200, "PUT", "/v1/accounts/T12345678/auth/roles/"+id, `{"name":"clerk","scope":["read:payable","update:payable"]}`, admin...)
	want := map[string]string{"payable:read": "allowed", "payable:update": "allowed", "payable:approve": "allowed_for_own", "payable:delete": "denied"}
	if got := rights(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Dintero PUT: %v, want %v", got, want)
	}
	// Papershift shows allowed rights of its own actions.
	s.must(200, "PATCH", "/v1/entities/T12345678/roles/"+id, map[string]any{"permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{act("read", "allowed"), act("approve", "allowed_for_own"), act("delete", "denied"), act("pay", "allowed")}}}}})
	s.expect(200, "PUT", "/api/v1/roles/"+id, `{"data":{"type":"role","attributes":{"rights":{"payable":{"create":true}}}}}`,
		append(admin, "X-Entity-Id", "T12345678", "Content-Type", "application/vnd.api+json")...)
	want = map[string]string{"payable:create": "allowed", "payable:approve": "allowed_for_own", "payable:delete": "denied", "payable:pay": "allowed"}
	if got := rights(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Papershift PUT: %v, want %v", got, want)
	}
	// Monite shows its three values on its own object types: the deny and
	// the rights on other object types stay.
	s.must(200, "PATCH", "/v1/entities/T12345678/roles/"+id, map[string]any{"permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{act("read", "allowed"), act("approve", "allowed_for_own"), act("delete", "denied")}},
		map[string]any{"object_type": "doc", "actions": []any{act("read", "allowed")}}}}})
	s.expect(200, "PATCH", "/v1/roles/"+id, `{"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"pay","permission":"allowed"}]}]}}`,
		append(admin, "x-monite-version", "2024-05-25", "x-monite-entity-id", "T12345678", "Content-Type", "application/json")...)
	want = map[string]string{"payable:pay": "allowed", "payable:delete": "denied", "doc:read": "allowed"}
	if got := rights(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Monite PATCH: %v, want %v", got, want)
	}
	// And the engine still denies it to a holder.
	s.must(201, "POST", "/v1/entities/T12345678/users", map[string]any{"id": "u-1", "role_ids": []string{id}})
	if s.checkAllowed("T12345678", "u-1", "payable", "delete", "") || !s.checkAllowed("T12345678", "u-1", "payable", "pay", "") {
		t.Fatal("the holder's rights do not follow the kept rights")
	}
}
