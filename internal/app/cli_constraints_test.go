package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/client"
)

const constraintsYAML = `entity: acme
constraints:
  - name: maker-checker
    description: no one both creates and approves a payable
    rights:
      - {object_type: payable, action: create}
      - {object_type: payable, action: approve}
    exceptions:
      - user_id: bob
        reason: two-person office
        expires_at: "2099-01-31T01:00:00+01:00"
`

// A file reads as the server would store it: mode enforce by default, and a
// constraint equal but for order and time zones is the same.
func TestConstraintsFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte(constraintsYAML), 0o600)
	f, err := readConstraintsFile(p)
	if err != nil || f.Entity != "acme" || len(f.Constraints) != 1 {
		t.Fatalf("%+v %v", f, err)
	}
	s := f.Constraints[0]
	if in := s.input(); in.Mode != "enforce" || len(in.Rights) != 2 || in.Exceptions[0].ExpiresAt != "2099-01-31T01:00:00+01:00" {
		t.Fatalf("%+v", in)
	}
	stored := client.Constraint{Name: "maker-checker", Description: s.Description, Mode: "enforce",
		Rights:     []client.ConstraintRight{{ObjectType: "payable", Action: "approve"}, {ObjectType: "payable", Action: "create"}},
		Exceptions: []client.ConstraintException{{UserID: "bob", Reason: "two-person office", ExpiresAt: "2099-01-31T00:00:00Z"}}}
	if !sameConstraint(s, stored) {
		t.Fatal("equal constraints differ")
	}
	for _, change := range []func(*client.Constraint){
		func(k *client.Constraint) { k.Mode = "report" },
		func(k *client.Constraint) { k.Description = "x" },
		func(k *client.Constraint) { k.Rights = k.Rights[:1] },
		func(k *client.Constraint) {
			k.Rights = []client.ConstraintRight{{ObjectType: "payable", Action: "approve"}, {ObjectType: "payable", Action: "pay"}}
		},
		func(k *client.Constraint) { k.Exceptions = nil },
		func(k *client.Constraint) {
			k.Exceptions = []client.ConstraintException{{UserID: "bob", Reason: "x", ExpiresAt: "2099-01-31T00:00:00Z"}}
		},
		func(k *client.Constraint) {
			k.Exceptions = []client.ConstraintException{{UserID: "bob", Reason: "two-person office", ExpiresAt: "2099-02-01T00:00:00Z"}}
		},
	} {
		k := stored
		change(&k)
		if sameConstraint(s, k) {
			t.Errorf("a changed constraint compares equal: %+v", k)
		}
	}
	for bad, want := range map[string]string{
		"constraints:\n  - name: a\n    rigths: []\n": "unknown field",
		"constraints:\n  - description: x\n":          "has no name",
		"constraints:\n  - name: a\n  - name: a\n":    "named twice",
	} {
		os.WriteFile(p, []byte(bad), 0o600)
		if _, err := readConstraintsFile(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
}

func TestDescribeViolations(t *testing.T) {
	got := describeViolations([]client.Violation{{ConstraintName: "maker-checker", UserID: "alice", Scope: "team:1", Rights: []client.HeldRight{
		{ObjectType: "payable", Action: "create", Roles: []client.HeldVia{{RoleName: "maker", Scope: "team:1"}}},
		{ObjectType: "payable", Action: "approve", Own: true, Condition: "resource.amount < 10"}}}})
	want := "\n  constraint maker-checker: user alice in team:1: payable:create (role maker (team:1)) and payable:approve (own rights, if resource.amount < 10)"
	if got != want {
		t.Fatalf("%q\nwant %q", got, want)
	}
}
