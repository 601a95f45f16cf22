package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

var updateSnapshots = flag.Bool("update-audit-snapshots", false, "rewrite testdata/audit_snapshots.golden")

// TestAuditSnapshotsFrozen: the audit log stores its before and after
// snapshots as JSON and shows them as stored, so rows written today must read
// the same tomorrow. Every snapshot kind, from fixed objects (a deleted role,
// scopes, expiry, rights held directly, text that JSON escapes), is held to
// testdata/audit_snapshots.golden byte for byte: a change to the api types
// the snapshots are made of fails here instead of silently changing what new
// rows hold. Rewrite the file (-update-audit-snapshots) only for a change
// made on purpose, and say so in CHANGELOG.md.
func TestAuditSnapshotsFrozen(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.FixedZone("CET", 3600))
	later := at.Add(36*time.Hour + 500*time.Millisecond)
	rights := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{
			{ActionName: "approve", Permission: rolegate.AllowedForOwn},
			{ActionName: "pay", Permission: rolegate.Denied},
		}},
		{ObjectType: "*", Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}},
		{ObjectType: "report"},
	}}
	role := rolegate.Role{ID: "r-approver", EntityID: "acme", Name: "approver", Description: "approves <b>&</b> — ü \"quoted\"",
		Permissions: rights, Default: true, RoleType: "custom", Status: "active", Version: 3,
		CreatedAt: at, CreatedBy: "client:ops", UpdatedAt: later}
	deleted := role
	deleted.Status, deleted.DeletedAt, deleted.DeletedBy = "deleted", &later, "user:u-1"
	bare := rolegate.Role{ID: "r-viewer", EntityID: "acme", Name: "viewer", RoleType: "system", Status: "active", Version: 1,
		CreatedAt: at, UpdatedAt: at}
	user := rolegate.User{ID: "u-1", EntityID: "acme", Email: "ana@example.com", Name: "Ana <Ops>", CreatedAt: at, UpdatedAt: later,
		LastSeenAt: &later, Permissions: rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
			{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}},
		Roles: []rolegate.UserRole{{Role: role}, {Role: bare, Scope: "team-7", ExpiresAt: &later}, {Role: deleted, Scope: "team-7"}}}
	plain := rolegate.User{ID: "u-2", EntityID: "acme", Email: "bo@example.com", CreatedAt: at, UpdatedAt: at}
	attributed := plain
	attributed.Attributes = map[string]any{"approval_limit": 5000.0, "department": "finance <&>", "regions": []any{"EU", nil, true}}
	conditional := role
	conditional.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{
		{ActionName: "approve", Permission: rolegate.Allowed, Condition: "resource.amount <= user.approval_limit && resource.currency == 'EUR'"}}}}}

	snapshots := []struct {
		name string
		doc  any
	}{
		{"entity", entityDocOf(rolegate.Entity{ID: "acme", Name: "Acme <&> Ünïcode", Revision: 42, CreatedAt: at, UpdatedAt: later})},
		{"role", roleDocOf(role)},
		{"role deleted", roleDocOf(deleted)},
		{"role without rights", roleDocOf(bare)},
		{"user", userDocOf(user)},
		{"user without roles or rights", userDocOf(plain)},
		{"assignment", assignmentDocOf(rolegate.Assignment{EntityID: "acme", UserID: "u-1", RoleID: "r-approver", CreatedAt: at})},
		{"assignment scoped, expiring", assignmentDocOf(rolegate.Assignment{EntityID: "acme", UserID: "u-1", RoleID: "r-viewer",
			Scope: "team-7", CreatedAt: at, ExpiresAt: &later})},
		{"team roles", scopedRolesDocOf("u-1", "team-7", user.Roles)},
		{"team roles, none", scopedRolesDocOf("u-1", "team-9", user.Roles)},
		{"user with attributes", userDocOf(attributed)},
		{"role with a condition", roleDocOf(conditional)},
		{"constraint", constraintDocOf(rolegate.Constraint{ID: "c-1", EntityID: "acme", Name: "maker-checker <&>", Description: "no one \"both\" — ü",
			Rights: []rolegate.ConstraintRight{{ObjectType: "payable", Action: "create"}, {ObjectType: "payable", Action: "approve"}},
			Mode:   "enforce", Exceptions: []rolegate.ConstraintException{{UserID: "u-1", Reason: "two-person office <in> August", ExpiresAt: later}},
			CreatedAt: at, CreatedBy: "client:ops", UpdatedAt: later})},
		{"constraint without exceptions", constraintDocOf(rolegate.Constraint{ID: "c-2", EntityID: "acme", Name: "vendors",
			Rights: []rolegate.ConstraintRight{{ObjectType: "vendor", Action: "create"}, {ObjectType: "payment", Action: "execute"}},
			Mode:   "report", CreatedAt: at, UpdatedAt: at, UpdatedBy: "user:u-2"})},
	}
	var got bytes.Buffer
	for _, s := range snapshots {
		// As audit stores them: auditJSON is what newAuditEvent writes.
		b, err := auditJSON(s.doc)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got.WriteString("# " + s.name + "\n")
		got.Write(b)
		got.WriteString("\n")
	}
	path := filepath.Join("testdata", "audit_snapshots.golden")
	if *updateSnapshots {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-audit-snapshots to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("the audit snapshots changed; rows already stored would read differently from new ones.\ngot:\n%s\nwant:\n%s", got.Bytes(), want)
	}
	for _, line := range bytes.Split(bytes.TrimSpace(want), []byte("\n")) {
		if len(line) > 0 && line[0] != '#' && !json.Valid(line) {
			t.Errorf("not JSON: %s", line)
		}
	}
}
