package handlers

import (
	"testing"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// FuzzRoleBody decodes arbitrary bodies as a role request and validates them
// as the service does. Nothing may panic; a body that passes compiles to
// rules without empty fields, one per right that is not not_allowed.
//
//	go test ./handlers -run x -fuzz FuzzRoleBody -fuzztime 60s
func FuzzRoleBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"approver","permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"},{"action_name":"approve","permission":"allowed_for_own"},{"action_name":"delete","permission":"denied"},{"action_name":"update","permission":"not_allowed"}]}]}}`,
		`{"name":"x","permissions":{"objects":[{"object_type":"*","actions":[{"action_name":"*","permission":"allowed"}]}]}}`,
		`{"name":"x","permissions":{"objects":[{"object_type":"a","actions":[{"action_name":"b","permission":"allowed"},{"action_name":"b","permission":"denied"}]}]}}`,
		`{"name":"","description":null}`,
		`{"name":7}`,
		`{"name":"x","colour":"red"}`,
		`{"name":"x",`,
		`[]`,
		`null`,
		`{"name":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	catalog, err := policy.NewCatalog([]policy.CatalogObject{{ObjectType: "payable", Actions: []string{"read", "approve"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req wire.RoleInput
		if err := decodeBytes(body, &req); err != nil {
			e := rolegate.AsError(err)
			if e.Kind != rolegate.KindBadRequest && e.Kind != rolegate.KindInvalid {
				t.Fatalf("decode error of kind %v: %v", e.Kind, err)
			}
			return
		}
		in := roleInput(req)
		for _, cat := range []*policy.Catalog{nil, catalog} {
			if in.Name == nil || policy.ValidateName("name", *in.Name) != nil {
				return
			}
			p := rolegate.Permissions{}
			if in.Permissions != nil {
				p = *in.Permissions
			}
			if err := policy.ValidatePermissions("permissions", p, cat); err != nil {
				if e := rolegate.AsError(err); e.Kind != rolegate.KindInvalid || e.Code == "" {
					t.Fatalf("validation error without a 422 code: %v", err)
				}
				continue
			}
			want := 0
			for _, o := range p.Objects {
				for _, a := range o.Actions {
					if a.Permission != rolegate.NotAllowed {
						want++
					}
				}
			}
			rules := engine.Compile(rolegate.Role{ID: "r", EntityID: "e", Status: rolegate.StatusActive, Permissions: p})
			if len(rules) != want {
				t.Fatalf("%d rules for %d rights", len(rules), want)
			}
			for _, r := range rules {
				if r.PType != "p" || len(r.Values) != 6 {
					t.Fatalf("malformed rule %q", r.String())
				}
				for _, v := range r.Values {
					if v == "" {
						t.Fatalf("empty field in %q", r.String())
					}
				}
			}
		}
	})
}
