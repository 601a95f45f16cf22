package policy

import (
	"reflect"
	"sort"
	"testing"

	"github.com/rolegate/rolegate"
)

func perms(triples ...string) rolegate.Permissions {
	var p rolegate.Permissions
	for i := 0; i+2 < len(triples); i += 3 {
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: triples[i],
			Actions: []rolegate.ActionPermission{{ActionName: triples[i+1], Permission: rolegate.Permission(triples[i+2])}}})
	}
	return p
}

// holds: a right is held when one right covers it whole and no deny touches
// any part of it; wildcards are judged as every right they match.
func TestHolds(t *testing.T) {
	held := perms("payable", "*", "allowed", "payable", "approve", "denied", "doc", "read", "allowed_for_own", "invoice", "read", "allowed")
	for _, c := range []struct {
		g    grant
		want bool
	}{
		{grant{"payable", "read", rolegate.Allowed}, true},
		{grant{"payable", "read", rolegate.AllowedForOwn}, true},
		{grant{"payable", "approve", rolegate.Allowed}, false},
		{grant{"payable", "approve", rolegate.AllowedForOwn}, false},
		{grant{"payable", "*", rolegate.Allowed}, false}, // the deny masks part of it
		{grant{"*", "read", rolegate.Allowed}, false},    // no *:read right
		{grant{"*", "approve", rolegate.Allowed}, false}, // and the deny touches it
		{grant{"*", "*", rolegate.Allowed}, false},
		{grant{"doc", "read", rolegate.AllowedForOwn}, true},
		{grant{"doc", "read", rolegate.Allowed}, false}, // only for own
		{grant{"invoice", "read", rolegate.Allowed}, true},
		{grant{"invoice", "*", rolegate.Allowed}, false},
		{grant{"receipt", "read", rolegate.Allowed}, false},
	} {
		if got := holds(held, c.g); got != c.want {
			t.Errorf("holds(%v) = %v, want %v", c.g, got, c.want)
		}
	}
	all := perms("*", "*", "allowed")
	for _, g := range []grant{{"*", "*", rolegate.Allowed}, {"payable", "*", rolegate.Allowed}, {"x", "y", rolegate.AllowedForOwn}} {
		if !holds(all, g) {
			t.Errorf("*:* does not hold %v", g)
		}
	}
	withDeny := perms("*", "*", "allowed", "*", "delete", "denied")
	if holds(withDeny, grant{"payable", "*", rolegate.Allowed}) || !holds(withDeny, grant{"payable", "read", rolegate.Allowed}) {
		t.Error("a *:delete deny: payable:* is not held whole, payable:read is")
	}
	if holds(rolegate.Permissions{}, grant{"a", "b", rolegate.AllowedForOwn}) {
		t.Error("nothing holds nothing")
	}
}

// gained: new or wider allows, and lifted denies counted as allows.
func TestGained(t *testing.T) {
	sorted := func(gs []grant) []grant {
		sort.Slice(gs, func(i, j int) bool {
			if gs[i].obj+gs[i].act != gs[j].obj+gs[j].act {
				return gs[i].obj+gs[i].act < gs[j].obj+gs[j].act
			}
			return gs[i].perm < gs[j].perm
		})
		return gs
	}
	for _, c := range []struct {
		name     string
		old, new rolegate.Permissions
		want     []grant
	}{
		{"nothing changes", perms("a", "r", "allowed", "a", "d", "denied"), perms("a", "r", "allowed", "a", "d", "denied"), nil},
		{"allow added", perms(), perms("a", "r", "allowed"), []grant{{"a", "r", rolegate.Allowed}}},
		{"own widened", perms("a", "r", "allowed_for_own"), perms("a", "r", "allowed"), []grant{{"a", "r", rolegate.Allowed}}},
		{"allow narrowed", perms("a", "r", "allowed"), perms("a", "r", "allowed_for_own"), nil},
		{"allow dropped", perms("a", "r", "allowed"), perms(), nil},
		{"deny dropped", perms("a", "d", "denied"), perms(), []grant{{"a", "d", rolegate.Allowed}}},
		{"deny to not_allowed", perms("a", "d", "denied"), perms("a", "d", "not_allowed"), []grant{{"a", "d", rolegate.Allowed}}},
		{"deny to own", perms("a", "d", "denied"), perms("a", "d", "allowed_for_own"), []grant{{"a", "d", rolegate.Allowed}, {"a", "d", rolegate.AllowedForOwn}}},
		{"deny to allowed", perms("a", "d", "denied"), perms("a", "d", "allowed"), []grant{{"a", "d", rolegate.Allowed}}},
		{"wildcard deny narrowed", perms("a", "*", "denied"), perms("a", "d", "denied"), []grant{{"a", "*", rolegate.Allowed}}},
		{"deny added", perms(), perms("a", "d", "denied"), nil},
	} {
		if got := sorted(gained(c.old, c.new)); !reflect.DeepEqual(got, sorted(c.want)) {
			t.Errorf("%s: gained = %v, want %v", c.name, got, c.want)
		}
	}
}

// withCond puts a condition on the only right of p.
func withCond(p rolegate.Permissions, cond string) rolegate.Permissions {
	p.Objects[0].Actions[0].Condition = cond
	return p
}

// Conditions: an allow under a condition gives no more than the same allow
// without; a condition taken off an allow, changed, or put on a deny gives
// more. A conditional allow held is not the caller's to give; a conditional
// deny held masks as any deny.
func TestGainedAndHeldWithConditions(t *testing.T) {
	c1, c2 := "resource.amount < 10.0", "resource.amount < 99.0"
	for _, c := range []struct {
		name     string
		old, new rolegate.Permissions
		want     []grant
	}{
		{"allow made conditional", perms("a", "r", "allowed"), withCond(perms("a", "r", "allowed"), c1), nil},
		{"conditional allow added", perms(), withCond(perms("a", "r", "allowed"), c1), []grant{{"a", "r", rolegate.Allowed}}},
		{"condition taken off an allow", withCond(perms("a", "r", "allowed"), c1), perms("a", "r", "allowed"), []grant{{"a", "r", rolegate.Allowed}}},
		{"allow's condition changed", withCond(perms("a", "r", "allowed"), c1), withCond(perms("a", "r", "allowed"), c2), []grant{{"a", "r", rolegate.Allowed}}},
		{"own's condition taken off", withCond(perms("a", "r", "allowed_for_own"), c1), perms("a", "r", "allowed_for_own"), []grant{{"a", "r", rolegate.AllowedForOwn}}},
		{"conditional allow to own", withCond(perms("a", "r", "allowed"), c1), perms("a", "r", "allowed_for_own"), []grant{{"a", "r", rolegate.AllowedForOwn}}},
		{"same condition", withCond(perms("a", "r", "allowed"), c1), withCond(perms("a", "r", "allowed"), c1), nil},
		{"deny made conditional", perms("a", "d", "denied"), withCond(perms("a", "d", "denied"), c1), []grant{{"a", "d", rolegate.Allowed}}},
		{"deny's condition changed", withCond(perms("a", "d", "denied"), c1), withCond(perms("a", "d", "denied"), c2), []grant{{"a", "d", rolegate.Allowed}}},
		{"condition taken off a deny", withCond(perms("a", "d", "denied"), c1), perms("a", "d", "denied"), nil},
	} {
		if got := gained(c.old, c.new); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: gained = %v, want %v", c.name, got, c.want)
		}
	}
	if holds(withCond(perms("a", "r", "allowed"), c1), grant{"a", "r", rolegate.Allowed}) {
		t.Error("a conditional allow held counts as the right whole")
	}
	if holds(append2(perms("a", "*", "allowed"), withCond(perms("a", "r", "denied"), c1)), grant{"a", "r", rolegate.Allowed}) {
		t.Error("a conditional deny held does not mask")
	}
}

func append2(a, b rolegate.Permissions) rolegate.Permissions {
	a.Objects = append(a.Objects, b.Objects...)
	return a
}
