package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// auditFixture is a service over a store, and the store.
func auditFixture(t *testing.T) (*policy.Service, policy.Store) {
	t.Helper()
	return testkit.Service(t)
}

// auditEvents returns every event of the entity, oldest first.
func auditEvents(t *testing.T, svc *policy.Service, entityID string, f policy.AuditFilter) []policy.AuditEvent {
	t.Helper()
	evs, err := svc.ListAuditEvents(auth.Internal(context.Background()), entityID, f, policy.Page{Limit: 1000, Sort: "time"})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// doc decodes an event's before or after; nil when it is null.
func auditDoc(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	if raw == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("document %s: %v", raw, err)
	}
	return m
}

func auditActions(evs []policy.AuditEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

func auditRights(obj string, acts ...string) *rolegate.Permissions {
	op := rolegate.ObjectPermissions{ObjectType: obj}
	for _, a := range acts {
		op.Actions = append(op.Actions, rolegate.ActionPermission{ActionName: a, Permission: rolegate.Allowed})
	}
	return &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{op}}
}

func TestAuditEventsOfWrites(t *testing.T) {
	svc, _ := auditFixture(t)
	admin := auth.Actor{ID: "client:ops", Scopes: []string{auth.ScopeAdmin}}
	ctx := policy.WithRequestID(auth.WithActor(context.Background(), admin), "req-1")

	ent, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	evs := auditEvents(t, svc, ent.ID, policy.AuditFilter{})
	if len(evs) != 1 || evs[0].Action != policy.AuditEntityCreate || evs[0].ObjectID != "acme" ||
		evs[0].Before != nil || auditDoc(t, evs[0].After)["name"] != "Acme" {
		t.Fatalf("after creating the entity: %+v", evs)
	}

	name := "approver"
	role, _, err := svc.CreateRole(ctx, ent.ID, policy.RoleInput{Name: &name, Permissions: auditRights("payable", "read")})
	if err != nil {
		t.Fatal(err)
	}
	newName, desc := "approver 2", "approves"
	ctx2 := policy.WithRequestID(ctx, "req-2")
	if _, _, err := svc.UpdateRole(ctx2, ent.ID, role.ID, policy.RoleInput{Name: &newName, Description: &desc,
		Permissions: auditRights("payable", "read", "approve")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}

	// Failed writes leave no event: a taken name, invalid input, a stale
	// If-Match, an unknown role.
	taken := "admin"
	if _, _, err := svc.CreateRole(ctx, ent.ID, policy.RoleInput{Name: &taken}); !rolegate.IsKind(err, rolegate.KindConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, _, err := svc.UpdateRole(ctx, ent.ID, role.ID, policy.RoleInput{Name: &taken}, policy.Patch, 0); !rolegate.IsKind(err, rolegate.KindConflict) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	bad := "bad\x01name"
	if _, _, err := svc.CreateRole(ctx, ent.ID, policy.RoleInput{Name: &bad}); !rolegate.IsKind(err, rolegate.KindInvalid) {
		t.Fatalf("invalid name: %v", err)
	}
	if _, _, err := svc.UpdateRole(ctx, ent.ID, role.ID, policy.RoleInput{Name: &name}, policy.Patch, 1); !rolegate.IsKind(err, rolegate.KindPrecondition) {
		t.Fatalf("stale If-Match: %v", err)
	}
	if _, err := svc.UnassignRole(ctx, ent.ID, "nobody", role.ID, ""); !rolegate.IsKind(err, rolegate.KindNotFound) {
		t.Fatalf("unassign from an unknown user: %v", err)
	}
	evs = auditEvents(t, svc, ent.ID, policy.AuditFilter{})
	if got := auditActions(evs); len(got) != 3 || got[1] != policy.AuditRoleCreate || got[2] != policy.AuditRoleUpdate {
		t.Fatalf("events after failed writes: %v", got)
	}

	create, update := evs[1], evs[2]
	if create.ObjectType != policy.AuditObjectRole || create.ObjectID != role.ID || create.Actor != "client:ops" ||
		create.RequestID != "req-1" || create.Before != nil || create.EntityID != "acme" || create.Time.IsZero() {
		t.Errorf("role.create event: %+v", create)
	}
	after := auditDoc(t, create.After)
	if after["name"] != "approver" || after["status"] != "active" || after["version"] != 1.0 || after["created_by"] != "client:ops" {
		t.Errorf("role.create after: %v", after)
	}
	perms, _ := json.Marshal(after["permissions"])
	if string(perms) != `{"objects":[{"actions":[{"action_name":"read","permission":"allowed"}],"object_type":"payable"}]}` {
		t.Errorf("role.create after permissions: %s", perms)
	}
	before, after := auditDoc(t, update.Before), auditDoc(t, update.After)
	if update.RequestID != "req-2" || before["name"] != "approver" || before["version"] != 1.0 ||
		after["name"] != "approver 2" || after["description"] != "approves" || after["version"] != 2.0 {
		t.Errorf("role.update: %+v\nbefore %v\nafter %v", update, before, after)
	}

	// Users and assignments.
	if _, _, err := svc.CreateUser(ctx, ent.ID, policy.UserInput{ID: "u-1", Email: auditPtr("ada@acme.test"), RoleIDs: &[]string{role.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AssignRole(ctx, ent.ID, "u-1", role.ID, "team:42"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.AssignRole(ctx, ent.ID, "u-1", role.ID, "team:42"); err != nil { // held: nothing changes
		t.Fatal(err)
	}
	if _, err := svc.UnassignRole(ctx, ent.ID, "u-1", role.ID, "team:42"); err != nil {
		t.Fatal(err)
	}
	members, err := svc.ListRoles(ctx, ent.ID, policy.RoleFilter{Name: "member"}, policy.Page{Limit: 1})
	if err != nil || len(members) != 1 {
		t.Fatal(members, err)
	}
	if _, _, err := svc.SetScopedRoles(ctx, ent.ID, "u-1", "team:7", []string{members[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.UpdateUser(ctx, ent.ID, "u-1", policy.UserInput{Name: auditPtr("Ada")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.DeleteRole(ctx, ent.ID, role.ID, true, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.DeleteUser(ctx, ent.ID, "u-1"); err != nil {
		t.Fatal(err)
	}
	evs = auditEvents(t, svc, ent.ID, policy.AuditFilter{})
	want := []string{"entity.create", "role.create", "role.update", "user.create", "assignment.create",
		"assignment.delete", "team_roles.set", "user.update", "role.delete", "user.delete"}
	if got := auditActions(evs); len(got) != len(want) {
		t.Fatalf("events: %v, want %v", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("events: %v, want %v", got, want)
			}
		}
	}
	byAction := map[string]policy.AuditEvent{}
	for _, e := range evs {
		byAction[e.Action] = e
	}
	if e := byAction["user.create"]; e.ObjectType != "user" || e.ObjectID != "u-1" || e.Before != nil ||
		auditDoc(t, e.After)["email"] != "ada@acme.test" || len(auditDoc(t, e.After)["roles"].([]any)) != 1 {
		t.Errorf("user.create: %+v %s", e, e.After)
	}
	if e := byAction["assignment.create"]; e.ObjectType != "assignment" || e.ObjectID != "u-1" || e.Before != nil ||
		auditDoc(t, e.After)["scope"] != "team:42" || auditDoc(t, e.After)["role_id"] != role.ID {
		t.Errorf("assignment.create: %+v %s", e, e.After)
	}
	if e := byAction["assignment.delete"]; e.After != nil || auditDoc(t, e.Before)["scope"] != "team:42" || auditDoc(t, e.Before)["created_at"] == "" {
		t.Errorf("assignment.delete: %+v %s", e, e.Before)
	}
	if e := byAction["team_roles.set"]; e.ObjectType != "assignment" ||
		string(e.Before) != `{"user_id":"u-1","scope":"team:7","roles":[]}` ||
		string(e.After) != `{"user_id":"u-1","scope":"team:7","roles":[{"id":"`+members[0].ID+`","name":"member"}]}` {
		t.Errorf("team_roles.set: %s -> %s", e.Before, e.After)
	}
	if e := byAction["user.update"]; auditDoc(t, e.Before)["name"] != "" || auditDoc(t, e.After)["name"] != "Ada" {
		t.Errorf("user.update: %s -> %s", e.Before, e.After)
	}
	if e := byAction["role.delete"]; auditDoc(t, e.Before)["status"] != "active" || auditDoc(t, e.After)["status"] != "deleted" ||
		auditDoc(t, e.After)["deleted_by"] != "client:ops" {
		t.Errorf("role.delete: %s -> %s", e.Before, e.After)
	}
	if e := byAction["user.delete"]; e.After != nil || auditDoc(t, e.Before)["id"] != "u-1" {
		t.Errorf("user.delete: %+v %s", e, e.Before)
	}

	// Filters and pages, newest first.
	if got := auditEvents(t, svc, ent.ID, policy.AuditFilter{ObjectType: "role"}); len(got) != 3 {
		t.Errorf("role events: %v", auditActions(got))
	}
	if got := auditEvents(t, svc, ent.ID, policy.AuditFilter{Actor: "someone else"}); len(got) != 0 {
		t.Errorf("events of another actor: %v", auditActions(got))
	}
	p := policy.Page{Limit: 4, Sort: "time", Desc: true}
	var pages []string
	for {
		page, err := svc.ListAuditEvents(ctx, ent.ID, policy.AuditFilter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, auditActions(page)...)
		if len(page) < p.Limit {
			break
		}
		last := page[len(page)-1]
		p.After = &policy.Cursor{Value: last.Time.Format(time.RFC3339Nano), ID: last.ID}
	}
	for i := range want {
		if pages[len(pages)-1-i] != want[i] {
			t.Fatalf("newest first in pages of 4: %v", pages)
		}
	}

	// Deleting the entity deletes its log; a new entity of the same id starts
	// a new one.
	if _, err := svc.DeleteEntity(ctx, ent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ListAuditEvents(ctx, ent.ID, policy.AuditFilter{}, policy.Page{Limit: 10}); !rolegate.IsKind(err, rolegate.KindNotFound) {
		t.Fatalf("events of a deleted entity: %v", err)
	}
	if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if got := auditActions(auditEvents(t, svc, "acme", policy.AuditFilter{})); len(got) != 1 || got[0] != "entity.create" {
		t.Fatalf("events of the new entity: %v", got)
	}
}

func auditPtr(s string) *string { return &s }

// failingAudit is a store whose audit writes fail.
type failingAudit struct{ policy.Store }

type failingAuditTx struct{ policy.Tx }

func (failingAuditTx) InsertAuditEvent(*policy.AuditEvent) error {
	return errors.New("audit write failed")
}

func (s failingAudit) Update(ctx context.Context, fn func(tx policy.Tx) error) error {
	return s.Store.Update(ctx, func(tx policy.Tx) error { return fn(failingAuditTx{tx}) })
}

// TestAuditSameTransaction: a change whose event cannot be written is not
// committed, nor seen by checks.
func TestAuditSameTransaction(t *testing.T) {
	svc, store := auditFixture(t)
	ctx := auth.Internal(context.Background())
	if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "e"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateUser(ctx, "e", policy.UserInput{ID: "u"}); err != nil {
		t.Fatal(err)
	}
	engine, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		t.Fatal(err)
	}
	broken := policy.NewService(policy.Config{Store: failingAudit{store}, Engine: engine})
	name := "reader"
	if _, _, err := broken.CreateRole(ctx, "e", policy.RoleInput{Name: &name, Permissions: auditRights("doc", "read")}); err == nil {
		t.Fatal("role created although its audit event failed")
	}
	if _, err := broken.CreateEntity(ctx, policy.EntityInput{ID: "f"}); err == nil {
		t.Fatal("entity created although its audit event failed")
	}
	if _, _, err := broken.SetScopedRoles(ctx, "e", "u", "team:1", nil); err == nil {
		t.Fatal("team roles set although the audit event failed")
	}
	roles, err := svc.ListRoles(ctx, "e", policy.RoleFilter{Name: name}, policy.Page{Limit: 10})
	if err != nil || len(roles) != 0 {
		t.Fatalf("roles after the failed write: %v %v", roles, err)
	}
	if _, err := svc.GetEntity(ctx, "f"); !rolegate.IsKind(err, rolegate.KindNotFound) {
		t.Fatalf("entity after the failed write: %v", err)
	}
	held, err := svc.UserRoles(ctx, "e", "u")
	if err != nil || len(held) != 1 {
		t.Fatalf("roles held after the failed write: %+v %v", held, err)
	}
	ent, _ := svc.GetEntity(ctx, "e")
	if got := auditActions(auditEvents(t, svc, "e", policy.AuditFilter{})); len(got) != 2 || ent.Revision != 2 {
		t.Fatalf("after failed writes: events %v, revision %d", got, ent.Revision)
	}
}
