package policy_test

import (
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// TestValidatePermissionsCodes: the code of refused rights is chosen from
// what was found, not from the messages: a repeated (object type, action)
// pair is duplicate_permission even when it is not the first offender, and
// other offenders alone are invalid_permissions. Every offender is listed.
func TestValidatePermissionsCodes(t *testing.T) {
	act := func(name string, p rolegate.Permission) rolegate.ActionPermission {
		return rolegate.ActionPermission{ActionName: name, Permission: p}
	}
	for _, c := range []struct {
		name    string
		objects []rolegate.ObjectPermissions
		code    string
		details int
	}{
		{"repeated pair", []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{act("read", "allowed"), act("read", "denied")}}},
			"duplicate_permission", 1},
		{"repeated after a bad permission", []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{act("read", "maybe"), act("read", "allowed")}}},
			"duplicate_permission", 2},
		{"bad permission and action", []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{act("read", "maybe"), act("Pay", "allowed")}}},
			"invalid_permissions", 2},
	} {
		e := rolegate.AsError(policy.ValidatePermissions("permissions", rolegate.Permissions{Objects: c.objects}, nil))
		if e == nil || e.Code != c.code || len(e.Details) != c.details {
			t.Errorf("%s: %+v, want %s with %d details", c.name, e, c.code, c.details)
		}
	}
}
