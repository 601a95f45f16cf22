package policy_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/rolegate/rolegate/policy"
)

func perms(objs ...policy.ObjectPermissions) policy.Permissions {
	return policy.Permissions{Objects: objs}
}

func obj(t string, acts ...string) policy.ObjectPermissions {
	o := policy.ObjectPermissions{ObjectType: t}
	for i := 0; i+1 < len(acts); i += 2 {
		o.Actions = append(o.Actions, policy.ActionPermission{ActionName: acts[i], Permission: policy.Permission(acts[i+1])})
	}
	return o
}

// Dintero scope strings read back exactly as given, in order, and mean the
// rights of the other encodings.
// Dintero's published scopes put the action first; its user example's
// receipts:write is the same right as write:receipts (issue 13).
func TestScopesResourceFirst(t *testing.T) {
	for in, want := range map[string]policy.ObjectPermissions{
		"receipts:write":  {ObjectType: "receipts", Actions: []policy.ActionPermission{{ActionName: "write", Permission: policy.Allowed}}},
		"write:receipts":  {ObjectType: "receipts", Actions: []policy.ActionPermission{{ActionName: "write", Permission: policy.Allowed}}},
		"read:write":      {ObjectType: "write", Actions: []policy.ActionPermission{{ActionName: "read", Permission: policy.Allowed}}},
		"shift:update":    {ObjectType: "update", Actions: []policy.ActionPermission{{ActionName: "shift", Permission: policy.Allowed}}},
		"accounts:read:x": {ObjectType: "read:x", Actions: []policy.ActionPermission{{ActionName: "accounts", Permission: policy.Allowed}}},
	} {
		p, err := policy.ParseScopes("scope", []string{in})
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !reflect.DeepEqual(p.Objects, []policy.ObjectPermissions{want}) {
			t.Errorf("%s: got %+v, want %+v", in, p.Objects, want)
		}
	}
}

func TestScopesRoundTrip(t *testing.T) {
	for _, scopes := range [][]string{
		{},
		{"read:accounts", "read:billing", "admin:shopping"},
		{"write:accounts:/auth/users", "read:accounts", "write:accounts"},
		{"write:receipts", "*:*", "read:*"},
	} {
		p, err := policy.ParseScopes("scope", scopes)
		if err != nil {
			t.Fatalf("%v: %v", scopes, err)
		}
		if err := policy.ValidatePermissions("scope", p, nil); err != nil {
			t.Fatalf("%v: decoded rights are invalid: %v", scopes, err)
		}
		if got := policy.ScopesOf(p); !reflect.DeepEqual(got, scopes) {
			t.Fatalf("round trip: got %v, want %v", got, scopes)
		}
		// Through the native encoding and back.
		doc := policy.DocOf(p)
		b, _ := json.Marshal(doc)
		var back policy.PermissionsDoc
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if got := policy.ScopesOf(back.Permissions()); !reflect.DeepEqual(got, scopes) {
			t.Fatalf("via objects: got %v, want %v", got, scopes)
		}
	}
	p, _ := policy.ParseScopes("scope", []string{"write:accounts:/auth/users"})
	if want := perms(obj("accounts:/auth/users", "write", "allowed")); !reflect.DeepEqual(p, want) {
		t.Fatalf("tail: got %+v, want %+v", p, want)
	}
	for _, bad := range []string{"", "read", ":accounts", "read:", "Read:accounts", "read:Accounts", "read:accounts:with space", "read:a:" + string(make([]byte, 100))} {
		if _, err := policy.ParseScopes("scope", []string{"read:ok", bad}); err == nil {
			t.Errorf("%q: accepted", bad)
		} else if e := policy.AsError(err); e.Code != "invalid_scope" || e.Details[0].Field != "scope[1]" {
			t.Errorf("%q: %v %+v", bad, e.Code, e.Details)
		}
	}
	// A repeated string is a repeated right.
	p, _ = policy.ParseScopes("scope", []string{"read:a", "read:a"})
	if err := policy.ValidatePermissions("scope", p, nil); policy.AsError(err).Code != "duplicate_permission" {
		t.Fatalf("repeated scope: %v", err)
	}
}

// Papershift rights keep only true values; equal rights decode the same way
// whatever their key order, and encode back to the true values.
func TestRightsRoundTrip(t *testing.T) {
	in := policy.Rights{
		"user":            {"read": true, "create": false, "update": true},
		"shift":           {"delete": true, "create": true},
		"team_membership": {"manage": true},
		"absence":         {"read": false},
	}
	p, err := policy.ParseRights("rights", in)
	if err != nil {
		t.Fatal(err)
	}
	want := perms(obj("shift", "create", "allowed", "delete", "allowed"), obj("team_membership", "manage", "allowed"),
		obj("user", "read", "allowed", "update", "allowed"))
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("decoded %+v, want %+v", p, want)
	}
	trues := policy.Rights{"user": {"read": true, "update": true}, "shift": {"delete": true, "create": true}, "team_membership": {"manage": true}}
	if got := policy.RightsOf(p); !reflect.DeepEqual(got, trues) {
		t.Fatalf("encoded %v, want %v", got, trues)
	}
	again, _ := policy.ParseRights("rights", policy.RightsOf(p))
	if !reflect.DeepEqual(again, p) {
		t.Fatalf("second round trip changed the rights: %+v", again)
	}
	for _, bad := range []policy.Rights{{"user": {"manage": true}}, {"user": {"approve": true}}, {"User": {"read": true}}} {
		if _, err := policy.ParseRights("rights", bad); policy.AsError(err).Code != "invalid_rights" {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

// Rights the other encodings cannot say are left out of them, never turned
// into something else.
func TestCodecsAcrossEncodings(t *testing.T) {
	p := perms(obj("payable", "approve", "allowed", "read", "allowed_for_own", "pay", "denied", "cancel", "not_allowed"))
	if got := policy.ScopesOf(p); !reflect.DeepEqual(got, []string{"approve:payable"}) {
		t.Fatalf("scopes: %v", got)
	}
	if got := policy.RightsOf(p); !reflect.DeepEqual(got, policy.Rights{"payable": {"approve": true}}) {
		t.Fatalf("rights: %v", got)
	}
	if got := policy.DocOf(p).Permissions(); !reflect.DeepEqual(got, p) {
		t.Fatalf("objects: %+v", got)
	}
	// Monite's catalog knows payable actions and nothing made up.
	cat := policy.MoniteCatalog()
	if err := policy.ValidatePermissions("permissions", p, cat); err != nil {
		t.Fatalf("monite catalog: %v", err)
	}
	if err := policy.ValidatePermissions("permissions", perms(obj("payable", "fly", "allowed")), cat); policy.AsError(err).Code != "unknown_object_type" {
		t.Fatalf("unknown action: %v", err)
	}
}
