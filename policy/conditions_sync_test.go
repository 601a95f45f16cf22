package policy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// An instance that learns of conditional rights and of users' attributes
// from the change log, one delta per write and no reload, decides every
// check as the instance that wrote them, and as one that loads the entity
// whole: the delta carries the conditions' sources and the attributes.
func TestConditionsThroughChangeLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	a := testkit.NewInstance(t, path, nil, -1)
	o := testkit.NewInstance(t, path, nil, -1)
	ctx := auth.Internal(context.Background())
	testkit.SeedEntity(t, a, "acme")
	if ok, _, err := testkit.MayRead(t, o, "acme", "doc", 0); !ok || err != nil { // o holds acme
		t.Fatalf("before: %v %v", ok, err)
	}
	st := o.Eng.Stats()

	name := "approver"
	limit := "resource.amount <= user.approval_limit"
	r, _, err := a.Svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{
			{ActionName: "approve", Permission: rolegate.Allowed, Condition: limit},
			{ActionName: "pay", Permission: rolegate.Allowed},
		}},
		{ObjectType: "*", Actions: []rolegate.ActionPermission{{ActionName: "pay", Permission: rolegate.Denied, Condition: "resource.frozen"}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{r.ID}
	attrs := map[string]any{"approval_limit": 1000}
	if _, _, err := a.Svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada", RoleIDs: &ids, Attributes: &attrs}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Svc.CreateUser(ctx, "acme", policy.UserInput{ID: "bo", RoleIDs: &ids}); err != nil {
		t.Fatal(err)
	}
	more := map[string]any{"approval_limit": 5000}
	if _, _, err := a.Svc.UpdateUser(ctx, "acme", "bo", policy.UserInput{Attributes: &more}); err != nil {
		t.Fatal(err)
	}
	rev, _ := a.Eng.Revision(ctx, "acme")

	// A third instance loads acme whole, at the same revision.
	fresh := testkit.NewInstance(t, path, nil, -1)
	type q struct {
		user, act string
		res       map[string]any
	}
	var qs []q
	for _, user := range []string{"ada", "bo", "u"} {
		for _, act := range []string{"approve", "pay"} {
			for _, res := range []map[string]any{nil, {"amount": 500}, {"amount": 2000}, {"amount": 9000}, {"amount": "x"},
				{"frozen": true}, {"frozen": false, "amount": 10}, {"frozen": "yes"}} {
				qs = append(qs, q{user, act, res})
			}
		}
	}
	decide := func(in *testkit.Instance, c q) string {
		d, err := in.Svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: c.user, ObjectType: "payable", Action: c.act,
			Resource: c.res, MinRevision: rev})
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		return fmt.Sprintf("%v %s", d.Allowed, d.Permission)
	}
	allowed := 0
	for _, c := range qs {
		want := decide(a, c)
		if got := decide(o, c); got != want {
			t.Errorf("%+v: from the change log %s; the writer %s", c, got, want)
		}
		if got := decide(fresh, c); got != want {
			t.Errorf("%+v: loaded whole %s; the writer %s", c, got, want)
		}
		if want[:4] == "true" {
			allowed++
		}
	}
	if allowed == 0 || allowed == len(qs) {
		t.Fatalf("%d of %d checks allowed: the cases decide nothing", allowed, len(qs))
	}
	if after := o.Eng.Stats(); after.Reloads != st.Reloads || after.Loads != st.Loads {
		t.Fatalf("caught up with %d reloads, %d loads; want deltas only", after.Reloads-st.Reloads, after.Loads-st.Loads)
	}
}
