package policy_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/condition"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// condStores runs a test over a service on each store the service runs on in
// unit tests: in memory, and SQLite.
func condStores(t *testing.T, fn func(t *testing.T, svc *policy.Service, store policy.Store)) {
	t.Run("memstore", func(t *testing.T) {
		svc, store := testkit.Service(t, "acme", "other")
		fn(t, svc, store)
	})
	t.Run("sqlite", func(t *testing.T) {
		svc, store := testkit.SQLiteService(t, "acme", "other")
		fn(t, svc, store)
	})
}

func condRights(aps ...rolegate.ActionPermission) *rolegate.Permissions {
	return &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: aps}}}
}

func right(action string, p rolegate.Permission, cond string) rolegate.ActionPermission {
	return rolegate.ActionPermission{ActionName: action, Permission: p, Condition: cond}
}

func revisionOf(t *testing.T, store policy.Store, entityID string) int64 {
	t.Helper()
	var e rolegate.Entity
	if err := store.View(context.Background(), func(tx policy.Tx) error {
		var err error
		e, err = tx.GetEntity(entityID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return e.Revision
}

func storedConditions(t *testing.T, store policy.Store, entityID string) map[string]string {
	t.Helper()
	var out map[string]string
	if err := store.View(context.Background(), func(tx policy.Tx) error {
		var err error
		out, err = tx.EntityConditions(entityID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// deltaAt is the delta the change log holds for the entity's revision rev.
func deltaAt(t *testing.T, store policy.Store, entityID string, rev int64) engine.Delta {
	t.Helper()
	_, _, entries, err := store.(changes.LogReader).PolicyChanges(context.Background(), entityID, rev-1, changes.Keep)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Revision == rev {
			d, err := engine.DecodeDelta(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("no log entry of revision %d", rev)
	return engine.Delta{}
}

// attributeOps are the OpAttributes of a delta, by user.
func attributeOps(d engine.Delta) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, op := range d.Ops {
		if op.Op == engine.OpAttributes {
			out[op.Subject] = op.Attributes
		}
	}
	return out
}

func wantCode(t *testing.T, err error, code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %s", code)
	}
	e := rolegate.AsError(err)
	if e.Code != code || e.Kind != rolegate.KindInvalid {
		t.Fatalf("%v; want 422 %s", err, code)
	}
	if field != "" && (len(e.Details) == 0 || e.Details[0].Field != field) {
		t.Fatalf("details %+v; want field %s", e.Details, field)
	}
}

// A right's condition is compiled when rights are written: a bad one is 422
// invalid_condition naming the field, with CEL's message and where it points,
// and nothing is written (no role, no rules, no condition, no revision).
func TestConditionRefused(t *testing.T) {
	condStores(t, func(t *testing.T, svc *policy.Service, store policy.Store) {
		ctx := auth.Internal(context.Background())
		rev := revisionOf(t, store, "acme")
		name := "approver"
		long := "resource.a == '" + strings.Repeat("x", condition.MaxSource) + "'"
		for _, c := range []struct {
			what   string
			rights *rolegate.Permissions
			field  string
			msg    string
		}{
			{"syntax", condRights(right("read", rolegate.Allowed, ""), right("approve", rolegate.Allowed, "resource.amount <=")), "permissions.objects[0].actions[1].condition", "1:"},
			{"undeclared", condRights(right("approve", rolegate.Denied, "amount > 10.0")), "permissions.objects[0].actions[0].condition", "undeclared reference"},
			{"not a bool", condRights(right("approve", rolegate.Allowed, "resource.amount + 1.0")), "permissions.objects[0].actions[0].condition", "not a bool"},
			{"too long", condRights(right("approve", rolegate.Allowed, long)), "permissions.objects[0].actions[0].condition", "at most 4096"},
			{"blank", condRights(right("approve", rolegate.Allowed, "  ")), "permissions.objects[0].actions[0].condition", "empty"},
			{"not valid UTF-8", condRights(right("approve", rolegate.Allowed, "resource.a == '\xff'")), "permissions.objects[0].actions[0].condition", "UTF-8"},
			{"on not_allowed", condRights(right("approve", rolegate.NotAllowed, "true")), "permissions.objects[0].actions[0].condition", "not_allowed"},
		} {
			_, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: c.rights})
			wantCode(t, err, "invalid_condition", c.field)
			if e := rolegate.AsError(err); !strings.Contains(e.Message, c.msg) || !strings.HasPrefix(e.Message, c.field+": ") {
				t.Errorf("%s: message %q; want the field and %q", c.what, e.Message, c.msg)
			}
			_, _, err = svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada", Permissions: c.rights})
			wantCode(t, err, "invalid_condition", c.field)
		}
		roles, err := svc.ListRoles(ctx, "acme", policy.RoleFilter{Name: name}, policy.Page{Limit: 10, Sort: "created_at"})
		if err != nil || len(roles) != 0 {
			t.Fatalf("a refused role was stored: %v %v", roles, err)
		}
		if got := revisionOf(t, store, "acme"); got != rev {
			t.Fatalf("revision %d after refused writes; want %d", got, rev)
		}
		if c := storedConditions(t, store, "acme"); c != nil {
			t.Fatalf("conditions stored by refused writes: %v", c)
		}

		// An update with a bad condition leaves the role as it was.
		good := "resource.amount <= 1000.0"
		r, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: condRights(right("approve", rolegate.Allowed, good))})
		if err != nil {
			t.Fatal(err)
		}
		rev = revisionOf(t, store, "acme")
		_, _, err = svc.UpdateRole(ctx, "acme", r.ID, policy.RoleInput{Permissions: condRights(right("approve", rolegate.Allowed, "resource.amount <= 'x' +"))}, policy.Patch, 0)
		wantCode(t, err, "invalid_condition", "permissions.objects[0].actions[0].condition")
		if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada"}); err != nil {
			t.Fatal(err)
		}
		_, _, err = svc.UpdateUser(ctx, "acme", "ada", policy.UserInput{Permissions: condRights(right("pay", rolegate.Allowed, "user.x ="))})
		wantCode(t, err, "invalid_condition", "permissions.objects[0].actions[0].condition")
		got, err := svc.GetRole(ctx, "acme", r.ID)
		if err != nil || got.Permissions.Objects[0].Actions[0].Condition != good || got.Version != 1 {
			t.Fatalf("role after a refused update: %+v %v", got, err)
		}
		if got := revisionOf(t, store, "acme"); got != rev+1 { // the user's creation only
			t.Fatalf("revision %d; want %d", got, rev+1)
		}
	})
}

// A conditional right reads back as written; its source is stored for the
// entity (only), named in the delta of the write, and loaded with the rules.
func TestConditionStoredAndCarried(t *testing.T) {
	condStores(t, func(t *testing.T, svc *policy.Service, store policy.Store) {
		ctx := auth.Internal(context.Background())
		name := "approver"
		small, eur := "resource.amount <= 1000.0", "resource.currency == 'EUR'"
		r, rev, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: condRights(
			right("read", rolegate.Allowed, ""), right("approve", rolegate.Allowed, small), right("pay", rolegate.Denied, eur))})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{condition.Hash(small): small, condition.Hash(eur): eur}
		if got := storedConditions(t, store, "acme"); !reflect.DeepEqual(got, want) {
			t.Fatalf("stored conditions %v; want %v", got, want)
		}
		if got := deltaAt(t, store, "acme", rev).Conditions; !reflect.DeepEqual(got, want) {
			t.Fatalf("delta conditions %v; want %v", got, want)
		}
		pol, err := store.LoadPolicy(ctx, "acme")
		if err != nil || !reflect.DeepEqual(pol.Conditions, want) {
			t.Fatalf("loaded conditions %v (%v); want %v", pol.Conditions, err, want)
		}
		if got := storedConditions(t, store, "other"); got != nil {
			t.Fatalf("another entity's conditions: %v", got)
		}
		if pol, _ := store.LoadPolicy(ctx, "other"); pol.Conditions != nil {
			t.Fatalf("another entity loads %v", pol.Conditions)
		}
		got, err := svc.GetRole(ctx, "acme", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if acts := got.Permissions.Objects[0].Actions; acts[1].Condition != small || acts[2].Condition != eur || acts[0].Condition != "" {
			t.Fatalf("read back %+v", acts)
		}

		// Writing the same conditions again stores nothing twice; a user's
		// own conditional right is stored the same way.
		if _, _, err := svc.UpdateRole(ctx, "acme", r.ID, policy.RoleInput{Permissions: condRights(right("approve", rolegate.Allowed, small))}, policy.Patch, 0); err != nil {
			t.Fatal(err)
		}
		mine := "resource.owner == user.id"
		if _, rev, err = svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada", Permissions: condRights(right("edit", rolegate.AllowedForOwn, mine))}); err != nil {
			t.Fatal(err)
		}
		want[condition.Hash(mine)] = mine
		if got := storedConditions(t, store, "acme"); !reflect.DeepEqual(got, want) {
			t.Fatalf("stored conditions %v; want %v", got, want)
		}
		if got := deltaAt(t, store, "acme", rev).Conditions; !reflect.DeepEqual(got, map[string]string{condition.Hash(mine): mine}) {
			t.Fatalf("user's delta conditions %v", got)
		}
		u, err := svc.GetUser(ctx, "acme", "ada")
		if err != nil || u.Permissions.Objects[0].Actions[0].Condition != mine {
			t.Fatalf("user read back %+v %v", u.Permissions, err)
		}

		// A write through a view that cannot show a conditional right keeps
		// it, condition and all (RoleInput.MergeRights).
		keepConditional := func(stored, written rolegate.Permissions) rolegate.Permissions {
			out := written
			for _, o := range stored.Objects {
				for _, a := range o.Actions {
					if a.Condition != "" {
						out.Objects = append(out.Objects, rolegate.ObjectPermissions{ObjectType: o.ObjectType, Actions: []rolegate.ActionPermission{a}})
					}
				}
			}
			return out
		}
		written := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "invoice", Actions: []rolegate.ActionPermission{right("read", rolegate.Allowed, "")}}}}
		r, _, err = svc.UpdateRole(ctx, "acme", r.ID, policy.RoleInput{Permissions: &written, MergeRights: keepConditional}, policy.Patch, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := svc.GetRole(ctx, "acme", r.ID); len(got.Permissions.Objects) != 2 || got.Permissions.Objects[1].Actions[0].Condition != small {
			t.Fatalf("merged rights lost the condition: %+v", got.Permissions)
		}
		if _, _, err := svc.UpdateUser(ctx, "acme", "ada", policy.UserInput{Permissions: &written, MergeRights: keepConditional}); err != nil {
			t.Fatal(err)
		}
		if u, _ := svc.GetUser(ctx, "acme", "ada"); len(u.Permissions.Objects) != 2 || u.Permissions.Objects[1].Actions[0].Condition != mine {
			t.Fatalf("merged user rights lost the condition: %+v", u.Permissions)
		}

		// The entity's conditions go with it.
		if _, err := svc.DeleteEntity(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
			t.Fatal(err)
		}
		if got := storedConditions(t, store, "acme"); got != nil {
			t.Fatalf("conditions outlived their entity: %v", got)
		}
	})
}

// A user's attributes are checked and normalized (422 invalid_attributes),
// stored with it (replaced whole), loaded for the engine, recorded in the
// delta when they change, and kept in the audit log.
func TestUserAttributes(t *testing.T) {
	condStores(t, func(t *testing.T, svc *policy.Service, store policy.Store) {
		ctx := auth.Internal(context.Background())
		rev := revisionOf(t, store, "acme")
		many := map[string]any{}
		for i := 0; i <= condition.MaxAttributes; i++ {
			many[fmt.Sprintf("a%d", i)] = true
		}
		for _, bad := range []map[string]any{
			{"manager": map[string]any{"id": "bo"}},
			{"": 1},
			{strings.Repeat("n", condition.MaxAttributeName+1): 1},
			{"limit": math.NaN()},
			{"limit": math.Inf(1)},
			{"note": strings.Repeat("é", condition.MaxAttributeString+1)},
			{"tags": make([]any, condition.MaxAttributeString+1)},
			{"tags": []any{[]any{"nested"}}},
			{"bad\xff": 1},
			{"s": "bad\xff"},
			{"x": struct{}{}},
			many,
			// each attribute within its limits, together past what a user may store
			{"a": strings.Repeat("x", 1000), "b": strings.Repeat("x", 1000), "c": []any{strings.Repeat("y", 1000), strings.Repeat("y", 1000),
				strings.Repeat("y", 1000), strings.Repeat("y", 1000), strings.Repeat("y", 1000), strings.Repeat("y", 1000), strings.Repeat("y", 1000),
				strings.Repeat("y", 1000), strings.Repeat("y", 1000), strings.Repeat("y", 1000), strings.Repeat("y", 1000), strings.Repeat("y", 1000),
				strings.Repeat("y", 1000), strings.Repeat("y", 1000), strings.Repeat("y", 1000)}},
		} {
			attrs := bad
			_, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada", Attributes: &attrs})
			wantCode(t, err, "invalid_attributes", "attributes")
		}
		if got := revisionOf(t, store, "acme"); got != rev {
			t.Fatalf("revision %d after refused writes; want %d", got, rev)
		}

		attrs := map[string]any{"approval_limit": 5000, "department": "finance", "regions": []any{"EU", 2, nil, true}}
		norm := map[string]any{"approval_limit": 5000.0, "department": "finance", "regions": []any{"EU", 2.0, nil, true}}
		u, rev, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada", Attributes: &attrs})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(u.Attributes, norm) {
			t.Fatalf("created with %#v; want %#v", u.Attributes, norm)
		}
		if got := attributeOps(deltaAt(t, store, "acme", rev)); !reflect.DeepEqual(got, map[string]map[string]any{"ada": norm}) {
			t.Fatalf("delta attributes %#v", got)
		}
		if u, err = svc.GetUser(ctx, "acme", "ada"); err != nil || !reflect.DeepEqual(u.Attributes, norm) {
			t.Fatalf("read back %#v %v", u.Attributes, err)
		}
		pol, err := store.LoadPolicy(ctx, "acme")
		if err != nil || !reflect.DeepEqual(pol.Attributes, map[string]map[string]any{"ada": norm}) {
			t.Fatalf("loaded attributes %#v %v", pol.Attributes, err)
		}
		if pol, _ := store.LoadPolicy(ctx, "other"); pol.Attributes != nil {
			t.Fatalf("another entity loads %v", pol.Attributes)
		}
		// A user without attributes has none, and is not loaded.
		if u, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "bo"}); err != nil || u.Attributes != nil {
			t.Fatalf("bo: %v %v", u.Attributes, err)
		}
		if pol, _ := store.LoadPolicy(ctx, "acme"); len(pol.Attributes) != 1 {
			t.Fatalf("loaded %v", pol.Attributes)
		}

		// A change of name only records no attributes; a change of
		// attributes replaces them whole; {} clears them.
		name := "Ada"
		if _, rev, err = svc.UpdateUser(ctx, "acme", "ada", policy.UserInput{Name: &name}); err != nil {
			t.Fatal(err)
		}
		if got := attributeOps(deltaAt(t, store, "acme", rev)); len(got) != 0 {
			t.Fatalf("a rename recorded attributes: %v", got)
		}
		next := map[string]any{"department": "legal"}
		if u, rev, err = svc.UpdateUser(ctx, "acme", "ada", policy.UserInput{Attributes: &next}); err != nil || !reflect.DeepEqual(u.Attributes, next) {
			t.Fatalf("update: %v %v", u.Attributes, err)
		}
		if got := attributeOps(deltaAt(t, store, "acme", rev)); !reflect.DeepEqual(got, map[string]map[string]any{"ada": next}) {
			t.Fatalf("delta attributes %#v", got)
		}
		none := map[string]any{}
		if u, rev, err = svc.UpdateUser(ctx, "acme", "ada", policy.UserInput{Attributes: &none}); err != nil || u.Attributes != nil {
			t.Fatalf("cleared: %v %v", u.Attributes, err)
		}
		if got := attributeOps(deltaAt(t, store, "acme", rev)); !reflect.DeepEqual(got, map[string]map[string]any{"ada": nil}) {
			t.Fatalf("delta of a clear %#v", got)
		}
		if pol, _ := store.LoadPolicy(ctx, "acme"); pol.Attributes != nil {
			t.Fatalf("cleared attributes loaded: %v", pol.Attributes)
		}
		if _, _, err = svc.UpdateUser(ctx, "acme", "ada", policy.UserInput{Attributes: &next}); err != nil {
			t.Fatal(err)
		}
		if _, rev, err = svc.DeleteUser(ctx, "acme", "ada"); err != nil {
			t.Fatal(err)
		}
		if got := attributeOps(deltaAt(t, store, "acme", rev)); !reflect.DeepEqual(got, map[string]map[string]any{"ada": nil}) {
			t.Fatalf("delta of a delete %#v", got)
		}

		// The audit log keeps them (left out of users without any).
		evs := userEvents(t, svc, "ada")
		if len(evs) != 6 {
			t.Fatalf("%d events of ada: %v", len(evs), auditActions(evs))
		}
		if a := auditDoc(t, evs[0].After)["attributes"]; a.(map[string]any)["approval_limit"] != 5000.0 {
			t.Fatalf("created: %v", a)
		}
		if a, ok := auditDoc(t, evs[3].After)["attributes"]; ok {
			t.Fatalf("cleared, yet %v", a)
		}
		if a := auditDoc(t, evs[5].Before)["attributes"]; !reflect.DeepEqual(a, map[string]any{"department": "legal"}) {
			t.Fatalf("deleted: %v", a)
		}
		if a, ok := auditDoc(t, userEvents(t, svc, "bo")[0].After)["attributes"]; ok {
			t.Fatalf("bo has none, yet %v", a)
		}
	})
}

// An import sets the users' attributes whole: checked as any user's (422
// naming users[i].attributes, nothing imported), unchanged when equal.
func TestImportAttributes(t *testing.T) {
	condStores(t, func(t *testing.T, svc *policy.Service, store policy.Store) {
		ctx := auth.Internal(context.Background())
		none := []string{}
		users := []policy.ImportUser{
			{ID: "ada", Email: "ada@example.com", RoleIDs: &none, Attributes: map[string]any{"approval_limit": 5000}},
			{ID: "bo", Email: "bo@example.com", RoleIDs: &none},
		}
		bad := []policy.ImportUser{users[0], {ID: "cy", RoleIDs: &none, Attributes: map[string]any{"m": map[string]any{}}}}
		_, err := svc.ImportUsers(ctx, "acme", bad)
		wantCode(t, err, "invalid_attributes", "users[1].attributes")
		if pol, _ := store.LoadPolicy(ctx, "acme"); pol.Attributes != nil {
			t.Fatalf("a refused import stored %v", pol.Attributes)
		}
		res, err := svc.ImportUsers(ctx, "acme", users)
		if err != nil || res.Created != 2 {
			t.Fatalf("import: %+v %v", res, err)
		}
		want := map[string]map[string]any{"ada": {"approval_limit": 5000.0}}
		if got := attributeOps(deltaAt(t, store, "acme", res.Revision)); !reflect.DeepEqual(got, want) {
			t.Fatalf("delta attributes %#v", got)
		}
		if pol, _ := store.LoadPolicy(ctx, "acme"); !reflect.DeepEqual(pol.Attributes, want) {
			t.Fatalf("loaded %#v", pol.Attributes)
		}
		// The same again (5000 as a float this time) changes nothing.
		users[0].Attributes = map[string]any{"approval_limit": 5000.0}
		if res, err = svc.ImportUsers(ctx, "acme", users); err != nil || res.Unchanged != 2 {
			t.Fatalf("import again: %+v %v", res, err)
		}
		// Attributes left out of an import are none: the import says the
		// user whole.
		users[0].Attributes = nil
		users[1].Attributes = map[string]any{"department": "ops"}
		if res, err = svc.ImportUsers(ctx, "acme", users); err != nil || res.Updated != 2 {
			t.Fatalf("import changed: %+v %v", res, err)
		}
		want = map[string]map[string]any{"ada": nil, "bo": {"department": "ops"}}
		if got := attributeOps(deltaAt(t, store, "acme", res.Revision)); !reflect.DeepEqual(got, want) {
			t.Fatalf("delta attributes %#v", got)
		}
		if u, _ := svc.GetUser(ctx, "acme", "ada"); u.Attributes != nil {
			t.Fatalf("ada keeps %v", u.Attributes)
		}
	})
}

// A check's resource, and who-can's, are checked as attributes are (422
// invalid_attributes naming resource, checks[i].resource).
func TestCheckResourceRefused(t *testing.T) {
	svc, _ := testkit.Service(t, "acme")
	ctx := auth.Internal(context.Background())
	req := policy.CheckRequest{EntityID: "acme", UserID: "ada", ObjectType: "payable", Action: "approve",
		Resource: map[string]any{"amount": map[string]any{"value": 1}}}
	d, err := svc.Check(ctx, req)
	wantCode(t, err, "invalid_attributes", "resource")
	if d.Allowed {
		t.Fatal("allowed on error")
	}
	ok := req
	ok.Resource = map[string]any{"amount": 12}
	_, err = svc.CheckBatch(ctx, []policy.CheckRequest{ok, req})
	wantCode(t, err, "invalid_attributes", "checks[1].resource")
	if _, err := svc.Check(ctx, ok); err != nil {
		t.Fatal(err)
	}
	_, err = svc.WhoCan(ctx, "acme", "payable", "approve", "", "", 10, map[string]any{"x": math.Inf(-1)})
	wantCode(t, err, "invalid_attributes", "resource")
	if _, err := svc.WhoCan(ctx, "acme", "payable", "approve", "", "", 10, map[string]any{"amount": 1}); err != nil {
		t.Fatal(err)
	}
}

// The doctor reports a rule naming a condition whose source is not stored,
// and --fix stores the source the rows hold.
func TestDoctorMissingCondition(t *testing.T) {
	svc, store := testkit.SQLiteService(t, "acme")
	ctx := auth.Internal(context.Background())
	name := "approver"
	src := "resource.amount <= 1000.0"
	if _, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: condRights(right("approve", rolegate.Allowed, src))}); err != nil {
		t.Fatal(err)
	}
	if rep, err := policy.Doctor(ctx, store, false); err != nil || rep.Remaining() != 0 {
		t.Fatalf("a consistent entity: %v %v", rep.Problems, err)
	}
	if err := store.DB().Exec("DELETE FROM conditions").Error; err != nil {
		t.Fatal(err)
	}
	rep, err := policy.Doctor(ctx, store, false)
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != policy.ProblemMissingCondition || !strings.Contains(rep.Problems[0].Source, condition.Hash(src)) {
		t.Fatalf("missing source: %v %v", rep.Problems, err)
	}
	if rep, err = policy.Doctor(ctx, store, true); err != nil || rep.Remaining() != 0 || len(rep.Fixed) != 1 {
		t.Fatalf("fix: %v %v", rep.Problems, err)
	}
	if got := storedConditions(t, store, "acme"); got[condition.Hash(src)] != src {
		t.Fatalf("after the fix: %v", got)
	}
}

// userEvents are the audit events of one user of acme, oldest first.
func userEvents(t *testing.T, svc *policy.Service, userID string) []policy.AuditEvent {
	t.Helper()
	var out []policy.AuditEvent
	for _, e := range auditEvents(t, svc, "acme", policy.AuditFilter{ObjectType: policy.AuditObjectUser}) {
		if e.ObjectID == userID {
			out = append(out, e)
		}
	}
	return out
}

// The largest rights a role may hold, each under its own condition, and a
// condition of exactly condition.MaxSource bytes, are stored whole.
func TestConditionLimits(t *testing.T) {
	condStores(t, func(t *testing.T, svc *policy.Service, store policy.Store) {
		ctx := auth.Internal(context.Background())
		var p rolegate.Permissions
		for i := 0; i < policy.MaxRights; i++ {
			p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: fmt.Sprintf("o%d", i),
				Actions: []rolegate.ActionPermission{right("read", rolegate.Allowed, fmt.Sprintf("resource.n == %d.0", i))}})
		}
		pad := "resource.s == '"
		exact := pad + strings.Repeat("ü", (condition.MaxSource-len(pad)-1)/2)
		exact += strings.Repeat("x", condition.MaxSource-len(exact)-1) + "'"
		if len(exact) != condition.MaxSource {
			t.Fatalf("%d bytes", len(exact))
		}
		p.Objects[0].Actions[0].Condition = exact
		name := "many"
		r, rev, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: &p})
		if err != nil {
			t.Fatal(err)
		}
		if got := storedConditions(t, store, "acme"); len(got) != policy.MaxRights || got[condition.Hash(exact)] != exact {
			t.Fatalf("%d conditions stored", len(got))
		}
		if got := deltaAt(t, store, "acme", rev).Conditions; len(got) != policy.MaxRights {
			t.Fatalf("%d conditions in the delta", len(got))
		}
		if got, _ := svc.GetRole(ctx, "acme", r.ID); got.Permissions.Objects[0].Actions[0].Condition != exact {
			t.Fatal("the longest condition did not read back whole")
		}
		d, err := svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: "nobody", ObjectType: "o7", Action: "read", Resource: map[string]any{"n": 7}})
		if err != nil || d.Allowed {
			t.Fatalf("a user without the role: %+v %v", d, err)
		}
	})
}

// A user who holds a right only under a condition cannot give it (not even
// under the same condition), nor lift a deny by putting a condition on it.
func TestConditionalRightsNotGiven(t *testing.T) {
	svc, _ := testkit.Service(t, "acme")
	ctx := auth.Internal(context.Background())
	name := func(s string) *string { return &s }
	limited := "resource.amount <= 100.0"
	clerk, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name("clerk"), Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{right("approve", rolegate.Allowed, limited), right("read", rolegate.Allowed, "")}},
		{ObjectType: "role", Actions: []rolegate.ActionPermission{right("*", rolegate.Allowed, "")}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "alice", RoleIDs: &[]string{clerk.ID}}); err != nil {
		t.Fatal(err)
	}
	alice := auth.WithActor(ctx, auth.Actor{ID: "user:alice", EntityID: "acme", UserID: "alice", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}})
	for _, c := range []struct {
		what   string
		rights *rolegate.Permissions
		code   string
	}{
		{"the right without its condition", condRights(right("approve", rolegate.Allowed, "")), "privilege_escalation"},
		{"the right under its condition", condRights(right("approve", rolegate.Allowed, limited)), "privilege_escalation"},
		{"a right held whole, under a condition", condRights(right("read", rolegate.Allowed, "resource.amount > 1.0")), ""},
	} {
		_, _, err := svc.CreateRole(alice, "acme", policy.RoleInput{Name: name(c.what), Permissions: c.rights})
		if got := rolegate.AsError(err); c.code == "" && err != nil || c.code != "" && (err == nil || got.Code != c.code) {
			t.Errorf("%s: %v; want %q", c.what, err, c.code)
		}
	}
	// A deny of pay on a role alice may edit: a condition put on it lifts
	// part of it, which is giving pay.
	deny, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name("no pay"), Permissions: condRights(right("pay", rolegate.Denied, ""))})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "bob", RoleIDs: &[]string{deny.ID}}); err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.UpdateRole(alice, "acme", deny.ID, policy.RoleInput{Permissions: condRights(right("pay", rolegate.Denied, "resource.amount > 10.0"))}, policy.Patch, 0)
	if got := rolegate.AsError(err); err == nil || got.Code != "privilege_escalation" {
		t.Fatalf("a deny narrowed by a condition: %v", err)
	}
}
