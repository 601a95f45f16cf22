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
