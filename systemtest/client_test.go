package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

func clientPtr[T any](v T) *T { return &v }

func clientAdmin(t *testing.T, s *testkit.Server) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, client.WithToken(testkit.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientApprover() client.RoleInput {
	return client.RoleInput{Name: clientPtr("approver"), Permissions: &client.Permissions{Objects: []client.ObjectPermissions{
		{ObjectType: "payable", Actions: []client.ActionPermission{
			{ActionName: "read", Permission: "allowed"},
			{ActionName: "approve", Permission: "allowed_for_own"},
			{ActionName: "delete", Permission: "denied"}}}}}}
}

func clientErrCode(t *testing.T, err error) (int, string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *client.Error, got %T %v", err, err)
	}
	return e.Status, e.Code
}

// TestClientEveryCall drives every typed call against the real server.
func TestClientEveryCall(t *testing.T) {
	s := testkit.Start(t, nil)
	c := clientAdmin(t, s)
	ctx := context.Background()

	// entities
	e, err := c.CreateEntity(ctx, "acme", "Acme Inc")
	if err != nil || e.ID != "acme" || e.Name != "Acme Inc" || e.Revision < 1 {
		t.Fatalf("CreateEntity: %+v %v", e, err)
	}
	if _, err := c.CreateEntity(ctx, "acme", "again"); !client.IsStatus(err, http.StatusConflict) {
		t.Fatalf("second CreateEntity: %v, want 409", err)
	}
	if _, err := c.CreateEntity(ctx, "other", ""); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetEntity(ctx, "acme")
	if err != nil || got.ID != "acme" || got.Revision != e.Revision {
		t.Fatalf("GetEntity: %+v %v", got, err)
	}
	ents, err := c.ListEntities(ctx, client.ListOptions{Limit: 1})
	if err != nil || len(ents.Data) != 1 || ents.Data[0].ID != "acme" || ents.NextPaginationToken == nil {
		t.Fatalf("ListEntities: %+v %v", ents, err)
	}
	ents, err = c.ListEntities(ctx, client.ListOptions{Limit: 1, PaginationToken: *ents.NextPaginationToken})
	if err != nil || len(ents.Data) != 1 || ents.Data[0].ID != "other" {
		t.Fatalf("ListEntities page 2: %+v %v", ents, err)
	}
	if _, err := c.GetEntity(ctx, "nope"); !client.IsNotFound(err) {
		t.Fatalf("GetEntity(nope): %v", err)
	}

	// roles, with ETag / If-Match
	r, err := c.CreateRole(ctx, "acme", clientApprover())
	if err != nil || r.ID == "" || r.Name != "approver" || r.Version != 1 || len(r.Permissions.Objects) != 1 {
		t.Fatalf("CreateRole: %+v %v", r, err)
	}
	if _, err := c.CreateRole(ctx, "acme", client.RoleInput{Name: clientPtr("")}); err == nil {
		t.Fatal("a role without a name was made")
	} else if st, code := clientErrCode(t, err); st != 422 || code == "" {
		t.Fatalf("bad role: %d %s", st, code)
	}
	r2, err := c.GetRole(ctx, "acme", r.ID)
	if err != nil || r2.Version != r.Version || r2.ETag() != `"1"` {
		t.Fatalf("GetRole: %+v %v", r2, err)
	}
	r3, err := c.PatchRole(ctx, "acme", r.ID, client.RoleInput{Description: clientPtr("approves payables")}, r2.Version)
	if err != nil || r3.Description != "approves payables" || r3.Version != 2 || len(r3.Permissions.Objects) != 1 {
		t.Fatalf("PatchRole: %+v %v", r3, err)
	}
	if _, err := c.PatchRole(ctx, "acme", r.ID, client.RoleInput{Description: clientPtr("lost update")}, r2.Version); !client.IsStatus(err, http.StatusPreconditionFailed) || !client.IsCode(err, "version_mismatch") {
		t.Fatalf("PatchRole with a stale ETag: %v, want 412", err)
	}
	in := clientApprover()
	in.Description = clientPtr("replaced")
	r4, err := c.ReplaceRole(ctx, "acme", r.ID, in, r3.Version)
	if err != nil || r4.Description != "replaced" || r4.Version != 3 {
		t.Fatalf("ReplaceRole: %+v %v", r4, err)
	}
	roles, err := c.ListRoles(ctx, "acme", client.RoleListOptions{RoleType: "custom"})
	if err != nil || len(roles.Data) != 1 || roles.Data[0].ID != r.ID {
		t.Fatalf("ListRoles custom: %+v %v", roles, err)
	}
	roles, err = c.ListRoles(ctx, "acme", client.RoleListOptions{Sort: "name", RoleType: "system"})
	if err != nil || len(roles.Data) != 2 || roles.Data[0].Name != "admin" || roles.Data[1].Name != "member" {
		t.Fatalf("ListRoles system: %+v %v", roles, err)
	}
	temp, err := c.CreateRole(ctx, "acme", client.RoleInput{Name: clientPtr("temp"), Permissions: &client.Permissions{Objects: []client.ObjectPermissions{}}})
	if err != nil {
		t.Fatal(err)
	}

	// users and assignments
	u, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u-17", Email: clientPtr("ada@acme.test"), RoleIDs: &[]string{r.ID}})
	if err != nil || u.ID != "u-17" || len(u.Roles) != 1 || u.Roles[0].ID != r.ID {
		t.Fatalf("CreateUser: %+v %v", u, err)
	}
	gu, err := c.GetUser(ctx, "acme", "u-17", true)
	if err != nil || len(gu.Roles) != 1 || gu.Roles[0].Role == nil || gu.Roles[0].Role.Version != 3 {
		t.Fatalf("GetUser expanded: %+v %v", gu, err)
	}
	uu, err := c.UpdateUser(ctx, "acme", "u-17", client.UserInput{Name: clientPtr("Ada")})
	if err != nil || uu.Name != "Ada" || len(uu.Roles) != 1 {
		t.Fatalf("UpdateUser: %+v %v", uu, err)
	}
	users, err := c.ListUsers(ctx, "acme", client.UserListOptions{Search: "ada"})
	if err != nil || len(users.Data) != 1 || users.Data[0].ID != "u-17" {
		t.Fatalf("ListUsers: %+v %v", users, err)
	}
	a, err := c.AssignRole(ctx, "acme", "u-17", temp.ID, "team:1")
	if err != nil || a.RoleID != temp.ID || a.Scope == nil || *a.Scope != "team:1" || a.Revision < 1 {
		t.Fatalf("AssignRole: %+v %v", a, err)
	}
	urs, err := c.UserRoles(ctx, "acme", "u-17")
	if err != nil || len(urs) != 2 {
		t.Fatalf("UserRoles: %+v %v", urs, err)
	}
	holders, err := c.ListRoleUsers(ctx, "acme", temp.ID, client.ListOptions{})
	if err != nil || len(holders.Data) != 1 || holders.Data[0].ID != "u-17" {
		t.Fatalf("ListRoleUsers: %+v %v", holders, err)
	}
	if err := c.UnassignRole(ctx, "acme", "u-17", temp.ID, "team:1"); err != nil {
		t.Fatal(err)
	}
	if urs, _ := c.UserRoles(ctx, "acme", "u-17"); len(urs) != 1 {
		t.Fatalf("UserRoles after unassign: %+v", urs)
	}
	perms, err := c.UserPermissions(ctx, "acme", "u-17", "")
	if err != nil || len(perms.Objects) != 1 || perms.Objects[0].ObjectType != "payable" {
		t.Fatalf("UserPermissions: %+v %v", perms, err)
	}

	// checks, single and batch, min_revision
	d, err := c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "approve", OwnerID: "u-17", Explain: true, MinRevision: a.Revision})
	if err != nil || !d.Allowed || d.Permission != "allowed_for_own" || d.Revision < a.Revision || len(d.Matched) == 0 {
		t.Fatalf("Check allowed: %+v %v", d, err)
	}
	d, err = c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "delete"})
	if err != nil || d.Allowed || d.Permission != "denied" {
		t.Fatalf("Check denied: %+v %v", d, err)
	}
	if _, err := c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "read", MinRevision: 1 << 40}); !client.IsCode(err, "unknown_revision") {
		t.Fatalf("Check with a revision the entity never had: %v", err)
	}
	ds, err := c.CheckBatch(ctx, []client.CheckRequest{
		{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "read"},
		{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "delete"},
		{EntityID: "other", UserID: "u-17", ObjectType: "payable", Action: "read"},
	})
	if err != nil || len(ds) != 3 || !ds[0].Allowed || ds[1].Allowed || ds[2].Allowed {
		t.Fatalf("CheckBatch: %+v %v", ds, err)
	}
	if _, err := c.CheckBatch(ctx, nil); !client.IsCode(err, "invalid_batch") {
		t.Fatalf("empty CheckBatch: %v", err)
	}

	// API clients
	cl, err := c.CreateClient(ctx, client.APIClientInput{Name: "billing", EntityID: "acme", Scopes: []string{"check", "manage"}})
	if err != nil || cl.ClientID == "" || cl.Secret == "" || cl.EntityID == nil || *cl.EntityID != "acme" {
		t.Fatalf("CreateClient: %+v %v", cl, err)
	}
	gc, err := c.GetClient(ctx, cl.ClientID)
	if err != nil || gc.Name != "billing" || gc.Secret != "" {
		t.Fatalf("GetClient: %+v %v", gc, err)
	}
	cls, err := c.ListClients(ctx, client.ListOptions{})
	if err != nil || len(cls.Data) != 1 || cls.Data[0].ClientID != cl.ClientID {
		t.Fatalf("ListClients: %+v %v", cls, err)
	}

	// audit events
	ev, err := c.ListAuditEvents(ctx, "acme", client.AuditListOptions{ObjectType: "role"})
	if err != nil || len(ev.Data) < 4 {
		t.Fatalf("ListAuditEvents: %d %v", len(ev.Data), err)
	}
	if ev.Data[0].Action != "role.create" || ev.Data[0].ObjectID != temp.ID || string(ev.Data[0].Before) != "null" {
		t.Fatalf("newest role event: %+v", ev.Data[0])
	}
	var after client.Role
	if err := json.Unmarshal(ev.Data[0].After, &after); err != nil || after.Name != "temp" {
		t.Fatalf("event's after: %s %v", ev.Data[0].After, err)
	}

	raw, err := c.ObjectTypes(ctx)
	if err != nil || !json.Valid(raw) {
		t.Fatalf("ObjectTypes: %s %v", raw, err)
	}

	// deletes
	if err := c.DeleteRole(ctx, "acme", temp.ID, false, temp.Version+5); !client.IsStatus(err, http.StatusPreconditionFailed) {
		t.Fatalf("DeleteRole with a wrong ETag: %v", err)
	}
	if err := c.DeleteRole(ctx, "acme", temp.ID, false, temp.Version); err != nil {
		t.Fatalf("DeleteRole: %v", err)
	}
	if err := c.DeleteRole(ctx, "acme", r.ID, false, 0); !client.IsStatus(err, http.StatusConflict) {
		t.Fatalf("DeleteRole of a held role without force: %v", err)
	}
	if err := c.DeleteRole(ctx, "acme", r.ID, true, r4.Version); err != nil {
		t.Fatalf("DeleteRole force: %v", err)
	}
	if err := c.DeleteUser(ctx, "acme", "u-17"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, "acme", "u-17", false); !client.IsNotFound(err) {
		t.Fatalf("GetUser after delete: %v", err)
	}
	if err := c.DeleteClient(ctx, cl.ClientID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteEntity(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetEntity(ctx, "other"); !client.IsNotFound(err) {
		t.Fatalf("GetEntity after delete: %v", err)
	}
}

// TestClientCredentials: a client's token is fetched by the client itself,
// scoped as the client is, and a wrong secret is a typed 401.
func TestClientCredentials(t *testing.T) {
	// The two failing token requests below each spend a bcrypt comparison
	// from the global budget, charged by how long it took: on a busy machine
	// two of them overdrew the default budget (a tenth of a CPU, one second
	// of burst) and the second answered 429. That budget is not what this
	// test is about (attack_token_endpoint_test.go in cmd/rolegate is): it is
	// set out of reach, as there. The per-address budget (counted, not timed)
	// stays at its default.
	s := testkit.Start(t, map[string]string{"ROLEGATE_TOKEN_TTL": "1m", "ROLEGATE_TOKEN_FAILURE_CPU": "1000"})
	ctx := context.Background()
	adm := clientAdmin(t, s)
	if _, err := adm.CreateEntity(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateEntity(ctx, "globex", ""); err != nil {
		t.Fatal(err)
	}
	cl, err := adm.CreateClient(ctx, client.APIClientInput{Name: "svc", EntityID: "acme", Scopes: []string{"check"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(s.URL, client.WithClientCredentials(cl.ClientID, cl.Secret))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d, err := c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "nobody", ObjectType: "payable", Action: "read"})
		if err != nil || d.Allowed {
			t.Fatalf("check with a client token: %+v %v", d, err)
		}
	}
	// scope check only: managing roles is 403, another entity is 404
	if _, err := c.CreateRole(ctx, "acme", clientApprover()); !client.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("CreateRole with a check-only client: %v", err)
	}
	if _, err := c.Check(ctx, client.CheckRequest{EntityID: "globex", UserID: "x", ObjectType: "payable", Action: "read"}); !client.IsNotFound(err) {
		t.Fatalf("check on another entity: %v", err)
	}
	bad, _ := client.New(s.URL, client.WithClientCredentials(cl.ClientID, "wrong-secret"), client.WithRetries(0, 0))
	_, err = bad.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "x", ObjectType: "payable", Action: "read"})
	if st, code := clientErrCode(t, err); st != 401 || code != "invalid_client" {
		t.Fatalf("wrong secret: %d %s", st, code)
	}
	// a deleted client's token stops; the client fetches a new one, which is refused
	if err := adm.DeleteClient(ctx, cl.ClientID); err != nil {
		t.Fatal(err)
	}
	_, err = c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "x", ObjectType: "payable", Action: "read"})
	if st, _ := clientErrCode(t, err); st != 401 {
		t.Fatalf("deleted client: %v", err)
	}
}

// TestClientBadToken: a wrong static token is a typed 401, never retried.
func TestClientBadToken(t *testing.T) {
	s := testkit.Start(t, nil)
	c, err := client.New(s.URL, client.WithToken("not-the-token-not-the-token-xxxxx"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListEntities(context.Background(), client.ListOptions{})
	if st, code := clientErrCode(t, err); st != 401 || code != "invalid_token" {
		t.Fatalf("bad token: %d %s", st, code)
	}
	if _, err := client.New(s.URL, client.WithToken("two words")); err == nil {
		t.Fatal("a token with a space was taken")
	}
	if _, err := client.New("ftp://x", client.WithToken("t")); err == nil {
		t.Fatal("an ftp URL was taken")
	}
	if _, err := client.New("http://user:pass@x", client.WithToken("t")); err == nil {
		t.Fatal("a URL with credentials was taken")
	}
}

// TestClientRateLimitRetried: a rate-limited write is retried (the server said it
// was not applied) after Retry-After, and succeeds.
func TestClientRateLimitRetried(t *testing.T) {
	s := testkit.Start(t, map[string]string{"ROLEGATE_RATE_LIMIT_MANAGE": "1"})
	c := clientAdmin(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateEntity(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	// one token a second for acme: three creates in a row need retries
	for i, name := range []string{"a", "b", "c"} {
		if _, err := c.CreateRole(ctx, "acme", client.RoleInput{Name: clientPtr(name), Permissions: &client.Permissions{Objects: []client.ObjectPermissions{}}}); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	roles, err := c.ListRoles(ctx, "acme", client.RoleListOptions{RoleType: "custom"})
	if err != nil || len(roles.Data) != 3 {
		t.Fatalf("roles: %d %v (each create applied once)", len(roles.Data), err)
	}
	// without retries the limit shows as a typed 429
	noRetry, _ := client.New(s.URL, client.WithToken(testkit.AdminToken), client.WithRetries(0, 0))
	var last error
	for i := 0; i < 3 && last == nil; i++ {
		_, last = noRetry.GetEntity(ctx, "acme")
	}
	var e *client.Error
	if !errors.As(last, &e) || e.Status != 429 || e.Code != "rate_limited" || e.RetryAfter <= 0 {
		t.Fatalf("rate limited without retries: %#v", last)
	}
}
