package handlers

import (
	"reflect"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

func rights3(triples ...string) rolegate.Permissions {
	var p rolegate.Permissions
	for i := 0; i+2 < len(triples); i += 3 {
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: triples[i],
			Actions: []rolegate.ActionPermission{{ActionName: triples[i+1], Permission: rolegate.Permission(triples[i+2])}}})
	}
	return p
}

func flatRights(p rolegate.Permissions) []string {
	var out []string
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			out = append(out, o.ObjectType+"."+a.ActionName+"="+string(a.Permission))
		}
	}
	return out
}

func testView() *facadeView {
	c, err := policy.NewCatalog([]policy.CatalogObject{
		{ObjectType: "payable", Actions: []string{"read", "approve"}},
		{ObjectType: "receipt", Actions: []string{"read"}},
	})
	if err != nil {
		panic(err)
	}
	return &facadeView{catalog: c, shows: catalogShows(c)}
}

// catalogShows shows what a Monite-like API shows: the catalog's rights, of
// any value but denied.
func catalogShows(c *policy.Catalog) shownFunc {
	return func(objectType string, a rolegate.ActionPermission) bool {
		if a.Permission == rolegate.Denied {
			return false
		}
		obj, act := c.Has(objectType, a.ActionName)
		return obj && act
	}
}

func TestViewVisible(t *testing.T) {
	v := testView()
	for _, c := range []struct {
		in   rolegate.Permissions
		want []string
	}{
		{rights3("*", "*", "allowed"), []string{"payable.read=allowed", "payable.approve=allowed", "receipt.read=allowed"}},
		// A deny wins and is not shown; the authored right takes the wildcard's higher value.
		{rights3("payable", "read", "not_allowed", "*", "*", "allowed", "payable", "approve", "denied"),
			[]string{"payable.read=allowed", "receipt.read=allowed"}},
		{rights3("*", "read", "allowed_for_own", "shift", "read", "allowed"), []string{"payable.read=allowed_for_own", "receipt.read=allowed_for_own"}},
		{rights3("*", "pay", "allowed"), nil},
	} {
		if got := flatRights(v.Visible(c.in)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: got %v, want %v", flatRights(c.in), got, c.want)
		}
	}
}

func TestViewMerge(t *testing.T) {
	v := testView()
	prev := rights3("*", "*", "allowed", "shift", "read", "allowed", "payable", "approve", "denied")
	// Written back as shown: prev unchanged.
	if got := v.Merge(prev, v.Visible(prev)); !reflect.DeepEqual(got, prev) {
		t.Fatalf("write-back: %v", flatRights(got))
	}
	// The wildcard's footprint changed: it is replaced by what was written;
	// the deny and shift.read, unseen, stay.
	got := flatRights(v.Merge(prev, rights3("payable", "read", "allowed")))
	want := []string{"payable.read=allowed", "payable.approve=denied", "shift.read=allowed"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("change: %v, want %v", got, want)
	}
	// Two wildcards: the one whose footprint is unchanged stays a wildcard.
	prev = rights3("payable", "*", "allowed", "receipt", "*", "allowed_for_own")
	got = flatRights(v.Merge(prev, rights3("payable", "read", "allowed", "payable", "approve", "allowed")))
	want = []string{"payable.*=allowed"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("partial: %v, want %v", got, want)
	}
}

// cond returns rights with the condition set on every right.
func cond(p rolegate.Permissions, source string) rolegate.Permissions {
	for i := range p.Objects {
		for j := range p.Objects[i].Actions {
			p.Objects[i].Actions[j].Condition = source
		}
	}
	return p
}

func joinRights(ps ...rolegate.Permissions) rolegate.Permissions {
	var out rolegate.Permissions
	for _, p := range ps {
		out.Objects = append(out.Objects, p.Objects...)
	}
	return out
}

func flatConditional(p rolegate.Permissions) []string {
	var out []string
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			s := o.ObjectType + "." + a.ActionName + "=" + string(a.Permission)
			if a.Condition != "" {
				s += " if " + a.Condition
			}
			out = append(out, s)
		}
	}
	return out
}

// A conditional right is never shown as allowed: a conditional allow is not
// shown, a conditional deny hides what it could deny; Dintero's and
// Papershift's encodings (allowed rights only) see the same.
func TestViewConditionalNeverAllowed(t *testing.T) {
	v := testView()
	const c = `resource.amount < 100`
	for _, tc := range []struct {
		in   rolegate.Permissions
		want []string
	}{
		{cond(rights3("payable", "approve", "allowed"), c), nil},
		{cond(rights3("payable", "approve", "allowed_for_own"), c), nil},
		{cond(rights3("*", "*", "allowed"), c), nil},
		{joinRights(rights3("payable", "read", "allowed"), cond(rights3("payable", "approve", "allowed"), c)), []string{"payable.read=allowed"}},
		// The unconditional wildcard's allow is hidden where a conditional deny may apply.
		{joinRights(rights3("*", "*", "allowed"), cond(rights3("payable", "approve", "denied"), c)), []string{"payable.read=allowed", "receipt.read=allowed"}},
		{joinRights(rights3("payable", "approve", "allowed"), cond(rights3("payable", "*", "denied"), c)), nil},
	} {
		got := v.Visible(tc.in)
		if !reflect.DeepEqual(flatRights(got), tc.want) {
			t.Errorf("%v: got %v, want %v", flatConditional(tc.in), flatRights(got), tc.want)
		}
		for _, o := range got.Objects {
			for _, a := range o.Actions {
				if a.Condition != "" {
					t.Errorf("%v: shown with its condition: %v", flatConditional(tc.in), flatConditional(got))
				}
			}
		}
	}
	for _, shows := range []shownFunc{dinteroShows, papershiftShows} {
		dv := &facadeView{catalog: v.catalog, shows: shows}
		in := joinRights(cond(rights3("payable", "approve", "allowed"), c), rights3("receipt", "read", "allowed"))
		if got := dinteroScopesOf(dv.Visible(in)); !reflect.DeepEqual(got, []string{"read:receipt"}) {
			t.Errorf("dintero scopes of %v: %v", flatConditional(in), got)
		}
		if got := papershiftRightsOf(dv.Visible(in)); len(got) != 1 || !got["receipt"]["read"] {
			t.Errorf("papershift rights of %v: %v", flatConditional(in), got)
		}
	}
}

// A write through a facade keeps the conditional rights it does not name
// (a conditional wildcard included); naming the same right replaces it with
// the unconditional value written.
func TestViewMergeKeepsConditions(t *testing.T) {
	v := testView()
	const c = `user.level >= 3`
	prev := joinRights(rights3("receipt", "read", "allowed"), cond(rights3("payable", "approve", "allowed", "payable", "read", "denied"), c))
	// Read-modify-write that changed nothing: prev as it was.
	if got := v.Merge(prev, v.Visible(prev)); !reflect.DeepEqual(got, prev) {
		t.Fatalf("write-back: %v", flatConditional(got))
	}
	// Another right changed: the conditional ones stay, with their condition.
	got := flatConditional(v.Merge(prev, rights3("receipt", "read", "allowed_for_own")))
	want := []string{"receipt.read=allowed_for_own", "payable.approve=allowed if " + c, "payable.read=denied if " + c}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("other right changed: %v, want %v", got, want)
	}
	// The same right written as allowed: unconditional now.
	got = flatConditional(v.Merge(prev, rights3("receipt", "read", "allowed", "payable", "approve", "allowed")))
	want = []string{"receipt.read=allowed", "payable.approve=allowed", "payable.read=denied if " + c}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("same right written: %v, want %v", got, want)
	}
	// A conditional wildcard is kept beside a change.
	prev = joinRights(cond(rights3("*", "*", "allowed"), c), rights3("receipt", "read", "allowed"))
	got = flatConditional(v.Merge(prev, rights3("payable", "read", "allowed")))
	want = []string{"payable.read=allowed", "*.*=allowed if " + c}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("conditional wildcard: %v, want %v", got, want)
	}
}

// A wildcard replaced by a write over a conditional deny: the deny stays
// with its condition, and the right it hid is not written back (the write
// could not see it), so the result is narrower, never wider.
func TestViewMergeWildcardOverConditionalDeny(t *testing.T) {
	v := testView()
	const c = `resource.amount > 1000`
	prev := joinRights(rights3("*", "*", "allowed"), cond(rights3("payable", "approve", "denied"), c))
	if got := flatRights(v.Visible(prev)); !reflect.DeepEqual(got, []string{"payable.read=allowed", "receipt.read=allowed"}) {
		t.Fatalf("visible: %v", got)
	}
	got := flatConditional(v.Merge(prev, rights3("payable", "read", "allowed")))
	want := []string{"payable.read=allowed", "payable.approve=denied if " + c}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merge: %v, want %v", got, want)
	}
}
