package handlers

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

func perms(objs ...rolegate.ObjectPermissions) rolegate.Permissions {
	return rolegate.Permissions{Objects: objs}
}

func obj(t string, acts ...string) rolegate.ObjectPermissions {
	o := rolegate.ObjectPermissions{ObjectType: t}
	for i := 0; i+1 < len(acts); i += 2 {
		o.Actions = append(o.Actions, rolegate.ActionPermission{ActionName: acts[i], Permission: rolegate.Permission(acts[i+1])})
	}
	return o
}

// The facades' codecs (dintero_codec.go, papershift_codec.go,
// monite_codec.go): each turns its API's encoding of rights into the
// domain's rights and back.

// Dintero scope strings read back exactly as given, in order, and mean the
// rights of the other encodings.
// Dintero's published scopes put the action first; its user example's
// receipts:write is the same right as write:receipts (issue 13).
func TestScopesResourceFirst(t *testing.T) {
	for in, want := range map[string]rolegate.ObjectPermissions{
		"receipts:write":  {ObjectType: "receipts", Actions: []rolegate.ActionPermission{{ActionName: "write", Permission: rolegate.Allowed}}},
		"write:receipts":  {ObjectType: "receipts", Actions: []rolegate.ActionPermission{{ActionName: "write", Permission: rolegate.Allowed}}},
		"read:write":      {ObjectType: "write", Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}},
		"shift:update":    {ObjectType: "update", Actions: []rolegate.ActionPermission{{ActionName: "shift", Permission: rolegate.Allowed}}},
		"accounts:read:x": {ObjectType: "read:x", Actions: []rolegate.ActionPermission{{ActionName: "accounts", Permission: rolegate.Allowed}}},
	} {
		p, err := parseDinteroScopes("scope", []string{in})
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !reflect.DeepEqual(p.Objects, []rolegate.ObjectPermissions{want}) {
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
		p, err := parseDinteroScopes("scope", scopes)
		if err != nil {
			t.Fatalf("%v: %v", scopes, err)
		}
		if err := policy.ValidatePermissions("scope", p, nil); err != nil {
			t.Fatalf("%v: decoded rights are invalid: %v", scopes, err)
		}
		if got := dinteroScopesOf(p); !reflect.DeepEqual(got, scopes) {
			t.Fatalf("round trip: got %v, want %v", got, scopes)
		}
		// Through the native encoding and back.
		doc := policy.DocOf(p)
		b, _ := json.Marshal(doc)
		var back policy.PermissionsDoc
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if got := dinteroScopesOf(policy.RightsOf(back)); !reflect.DeepEqual(got, scopes) {
			t.Fatalf("via objects: got %v, want %v", got, scopes)
		}
	}
	p, _ := parseDinteroScopes("scope", []string{"write:accounts:/auth/users"})
	if want := perms(obj("accounts:/auth/users", "write", "allowed")); !reflect.DeepEqual(p, want) {
		t.Fatalf("tail: got %+v, want %+v", p, want)
	}
	for _, bad := range []string{"", "read", ":accounts", "read:", "Read:accounts", "read:Accounts", "read:accounts:with space", "read:a:" + string(make([]byte, 100))} {
		if _, err := parseDinteroScopes("scope", []string{"read:ok", bad}); err == nil {
			t.Errorf("%q: accepted", bad)
		} else if e := rolegate.AsError(err); e.Code != "invalid_scope" || e.Details[0].Field != "scope[1]" {
			t.Errorf("%q: %v %+v", bad, e.Code, e.Details)
		}
	}
	// A repeated string is a repeated right.
	p, _ = parseDinteroScopes("scope", []string{"read:a", "read:a"})
	if err := policy.ValidatePermissions("scope", p, nil); rolegate.AsError(err).Code != "duplicate_permission" {
		t.Fatalf("repeated scope: %v", err)
	}
}

// Papershift rights keep only true values; equal rights decode the same way
// whatever their key order, and encode back to the true values.
func TestRightsRoundTrip(t *testing.T) {
	in := papershiftRights{
		"user":            {"read": true, "create": false, "update": true},
		"shift":           {"delete": true, "create": true},
		"team_membership": {"manage": true},
		"absence":         {"read": false},
	}
	p, err := parsePapershiftRights("rights", in)
	if err != nil {
		t.Fatal(err)
	}
	want := perms(obj("shift", "create", "allowed", "delete", "allowed"), obj("team_membership", "manage", "allowed"),
		obj("user", "read", "allowed", "update", "allowed"))
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("decoded %+v, want %+v", p, want)
	}
	trues := papershiftRights{"user": {"read": true, "update": true}, "shift": {"delete": true, "create": true}, "team_membership": {"manage": true}}
	if got := papershiftRightsOf(p); !reflect.DeepEqual(got, trues) {
		t.Fatalf("encoded %v, want %v", got, trues)
	}
	again, _ := parsePapershiftRights("rights", papershiftRightsOf(p))
	if !reflect.DeepEqual(again, p) {
		t.Fatalf("second round trip changed the rights: %+v", again)
	}
	for _, bad := range []papershiftRights{{"user": {"manage": true}}, {"user": {"approve": true}}, {"User": {"read": true}}} {
		if _, err := parsePapershiftRights("rights", bad); rolegate.AsError(err).Code != "invalid_rights" {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

// Rights the other encodings cannot say are left out of them, never turned
// into something else.
func TestCodecsAcrossEncodings(t *testing.T) {
	p := perms(obj("payable", "approve", "allowed", "read", "allowed_for_own", "pay", "denied", "cancel", "not_allowed"))
	if got := dinteroScopesOf(p); !reflect.DeepEqual(got, []string{"approve:payable"}) {
		t.Fatalf("scopes: %v", got)
	}
	if got := papershiftRightsOf(p); !reflect.DeepEqual(got, papershiftRights{"payable": {"approve": true}}) {
		t.Fatalf("rights: %v", got)
	}
	if got := policy.RightsOf(policy.DocOf(p)); !reflect.DeepEqual(got, p) {
		t.Fatalf("objects: %+v", got)
	}
	// Monite's catalog knows payable actions and nothing made up.
	cat := moniteCatalog()
	if err := policy.ValidatePermissions("permissions", p, cat); err != nil {
		t.Fatalf("monite catalog: %v", err)
	}
	if err := policy.ValidatePermissions("permissions", perms(obj("payable", "fly", "allowed")), cat); rolegate.AsError(err).Code != "unknown_object_type" {
		t.Fatalf("unknown action: %v", err)
	}
}

func monite3(triples ...string) rolegate.Permissions {
	var p rolegate.Permissions
	for i := 0; i+2 < len(triples); i += 3 {
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: triples[i],
			Actions: []rolegate.ActionPermission{{ActionName: triples[i+1], Permission: rolegate.Permission(triples[i+2])}}})
	}
	return p
}

// BenchmarkViewVisibleAdmin: the cost of showing the system admin role
// (*:*) through Monite, once per role in every Monite answer.
func BenchmarkViewVisibleAdmin(b *testing.B) {
	c := moniteCatalog()
	v := &facadeView{catalog: c, shows: moniteShows(c)}
	admin := monite3("*", "*", "allowed")
	b.ReportAllocs()
	for b.Loop() {
		if len(v.Visible(admin).Objects) != 32 {
			b.Fatal("admin is not every Monite object type")
		}
	}
}

// BenchmarkViewMergeWriteBack: a Monite client writing admin's 134 shown
// rights back onto a custom *:* role.
func BenchmarkViewMergeWriteBack(b *testing.B) {
	c := moniteCatalog()
	v := &facadeView{catalog: c, shows: moniteShows(c)}
	prev := monite3("*", "*", "allowed", "payable", "approve", "denied")
	next := v.Visible(prev)
	b.ReportAllocs()
	for b.Loop() {
		v.Merge(prev, next)
	}
}
