package systemtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// TestClientConstraints drives the Go client's constraint calls against the
// real server: CRUD, violations, and a refusal's violations in
// client.Error.
func TestClientConstraints(t *testing.T) {
	s := testkit.Start(t, nil)
	c := clientAdmin(t, s)
	ctx := context.Background()
	if _, err := c.CreateEntity(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	role := func(name, action string) client.Role {
		r, err := c.CreateRole(ctx, "acme", client.RoleInput{Name: clientPtr(name), Permissions: &client.Permissions{Objects: []client.ObjectPermissions{
			{ObjectType: "payable", Actions: []client.ActionPermission{{ActionName: action, Permission: "allowed"}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	maker, checker := role("maker", "create"), role("checker", "approve")
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "alice", RoleIDs: &[]string{maker.ID}}); err != nil {
		t.Fatal(err)
	}
	rights := []client.ConstraintRight{{ObjectType: "payable", Action: "create"}, {ObjectType: "payable", Action: "approve"}}
	k, err := c.CreateConstraint(ctx, "acme", client.ConstraintInput{Name: "maker-checker", Rights: rights})
	if err != nil || k.ID == "" || k.Mode != "enforce" || k.EntityID != "acme" {
		t.Fatalf("CreateConstraint: %+v %v", k, err)
	}
	if got, err := c.GetConstraint(ctx, "acme", k.ID); err != nil || got.Name != "maker-checker" {
		t.Fatalf("GetConstraint: %+v %v", got, err)
	}
	if l, err := c.ListConstraints(ctx, "acme"); err != nil || len(l) != 1 {
		t.Fatalf("ListConstraints: %+v %v", l, err)
	}
	// A refused assignment: the violations in the error, nothing assigned.
	_, err = c.AssignRole(ctx, "acme", "alice", checker.ID, "")
	vs := client.ViolationsOf(err)
	if st, code := clientErrCode(t, err); st != 409 || code != "separation_of_duties" || len(vs) != 1 || vs[0].UserID != "alice" ||
		vs[0].ConstraintID != k.ID || len(vs[0].Rights) != 2 {
		t.Fatalf("AssignRole: %v %+v", err, vs)
	}
	if rs, err := c.UserRoles(ctx, "acme", "alice"); err != nil || len(rs) != 1 {
		t.Fatalf("alice's roles: %+v %v", rs, err)
	}
	// An exception lets alice hold both; the violations list is empty.
	k, err = c.ReplaceConstraint(ctx, "acme", k.ID, client.ConstraintInput{Name: "maker-checker", Rights: rights,
		Exceptions: []client.ConstraintException{{UserID: "alice", Reason: "holiday cover", ExpiresAt: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}})
	if err != nil || len(k.Exceptions) != 1 {
		t.Fatalf("ReplaceConstraint: %+v %v", k, err)
	}
	if _, err := c.AssignRole(ctx, "acme", "alice", checker.ID, ""); err != nil {
		t.Fatalf("AssignRole with an exception: %v", err)
	}
	if v, err := c.ConstraintViolations(ctx, "acme", k.ID); err != nil || len(v.Data) != 0 || v.Revision < 1 {
		t.Fatalf("ConstraintViolations: %+v %v", v, err)
	}
	// Without it, alice is in violation: listed, and enforce is refused.
	_, err = c.ReplaceConstraint(ctx, "acme", k.ID, client.ConstraintInput{Name: "maker-checker", Rights: rights})
	if client.ViolationsOf(err) == nil {
		t.Fatalf("enforce over alice: %v", err)
	}
	if _, err := c.ReplaceConstraint(ctx, "acme", k.ID, client.ConstraintInput{Name: "maker-checker", Rights: rights, Mode: "report"}); err != nil {
		t.Fatal(err)
	}
	if v, err := c.ConstraintViolations(ctx, "acme", k.ID); err != nil || len(v.Data) != 1 || v.Data[0].UserID != "alice" {
		t.Fatalf("violations in report mode: %+v %v", v, err)
	}
	if err := c.DeleteConstraint(ctx, "acme", k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetConstraint(ctx, "acme", k.ID); !client.IsCode(err, "constraint_not_found") {
		t.Fatalf("deleted: %v", err)
	}
}

const constraintsFileYAML = `entity: acme
constraints:
  - name: maker-checker
    description: no one both creates and approves a payable
    rights:
      - {object_type: payable, action: create}
      - {object_type: payable, action: approve}
`

// TestCLIConstraints: constraints apply is idempotent by name (creates,
// leaves equal ones alone, replaces a changed one), violations and get
// read them, and a write refused for separation of duties prints its
// violations and exits 1.
func TestCLIConstraints(t *testing.T) {
	bin := testkit.Binary(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	env := map[string]string{"ROLEGATE_SERVER": s.base, "ROLEGATE_TOKEN": testToken}
	run := func(want int, args ...string) string {
		t.Helper()
		r := rolegateCLI(t, bin, env, args...)
		if r.code != want {
			t.Fatalf("rolegate %v: exit %d, want %d\n%s%s", args, r.code, want, r.stdout, r.stderr)
		}
		return r.stdout + r.stderr
	}
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	maker := sodRole(s, "acme", "maker", false, "payable", "create", "allowed")
	sodRole(s, "acme", "checker", false, "payable", "approve", "allowed")
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "alice", "role_ids": []string{maker}})

	file := filepath.Join(t.TempDir(), "constraints.yaml")
	os.WriteFile(file, []byte(constraintsFileYAML), 0o600)
	if out := run(0, "constraints", "apply", "-f", file); !strings.Contains(out, "constraint maker-checker created") || !strings.Contains(out, "1 created, 0 updated") {
		t.Fatalf("first apply:\n%s", out)
	}
	rev := s.must(200, "GET", "/v1/entities/acme", nil)["revision"]
	if out := run(0, "constraints", "apply", "-f", file); out != "no changes: 1 constraints already as the file says\n" {
		t.Fatalf("second apply:\n%s", out)
	}
	if got := s.must(200, "GET", "/v1/entities/acme", nil)["revision"]; got != rev {
		t.Fatalf("the second apply moved the revision %v -> %v", rev, got)
	}
	changed := strings.Replace(constraintsFileYAML, "    rights:", "    mode: report\n    rights:", 1)
	os.WriteFile(file, []byte(changed), 0o600)
	if out := run(0, "constraints", "apply", "-f", file, "-o", "json"); !strings.Contains(out, `"updated": [`) || !strings.Contains(out, `"maker-checker"`) {
		t.Fatalf("changed apply:\n%s", out)
	}
	var list struct{ Data []struct{ Name, Mode string } }
	if err := json.Unmarshal([]byte(run(0, "constraints", "list", "-e", "acme", "-o", "json")), &list); err != nil || len(list.Data) != 1 || list.Data[0].Mode != "report" {
		t.Fatalf("list: %+v %v", list, err)
	}
	// In report mode the assignment goes through; violations lists it.
	run(0, "users", "assign", "-e", "acme", "alice", "checker")
	if out := run(0, "constraints", "violations", "maker-checker", "-e", "acme"); !strings.Contains(out, "alice") || !strings.Contains(out, "payable:approve") || !strings.Contains(out, "role checker") {
		t.Fatalf("violations:\n%s", out)
	}
	// Back to enforce: refused while alice is in violation, printed with it.
	os.WriteFile(file, []byte(constraintsFileYAML), 0o600)
	out := run(1, "constraints", "apply", "-f", file)
	if !strings.Contains(out, "409 separation_of_duties") || !strings.Contains(out, "constraint maker-checker: user alice: payable:create (role maker) and payable:approve (role checker)") {
		t.Fatalf("refused apply:\n%s", out)
	}
	run(0, "users", "unassign", "-e", "acme", "alice", "checker")
	run(0, "constraints", "apply", "-f", file)
	out = run(1, "users", "assign", "-e", "acme", "alice", "checker")
	if !strings.Contains(out, "409 separation_of_duties") || !strings.Contains(out, "constraint maker-checker: user alice") {
		t.Fatalf("refused assignment:\n%s", out)
	}
	if out := run(0, "constraints", "get", "maker-checker", "-e", "acme"); !strings.Contains(out, "mode enforce") || !strings.Contains(out, "payable:create, payable:approve") {
		t.Fatalf("get:\n%s", out)
	}
	run(0, "constraints", "delete", "maker-checker", "-e", "acme")
	if out := run(1, "constraints", "get", "maker-checker", "-e", "acme"); !strings.Contains(out, "constraint_not_found") {
		t.Fatalf("get after delete:\n%s", out)
	}
}
