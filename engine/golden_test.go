package engine

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
)

var update = flag.Bool("update", false, "rewrite the golden files of the compiler tests")

// goldenInput is one sample of testdata/golden/*.json: roles, users' own
// rights and assignments of one entity.
type goldenInput struct {
	Roles       []rolegate.Role       `json:"roles"`
	Users       []rolegate.User       `json:"users"`
	Assignments []rolegate.Assignment `json:"assignments"`
}

// TestCompileGolden compiles each sample and compares the rules, one per
// line, with its .golden file (go test ./policy -run Golden -update rewrites
// them).
func TestCompileGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var in goldenInput
			dec := json.NewDecoder(strings.NewReader(string(data)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				t.Fatal(err)
			}
			var rules []rolegate.Rule
			for _, r := range in.Roles {
				rules = append(rules, Compile(r)...)
			}
			for _, u := range in.Users {
				rules = append(rules, CompileUser(u)...)
			}
			for _, a := range in.Assignments {
				rules = append(rules, CompileAssignment(a))
			}
			var b strings.Builder
			for _, r := range rules {
				for _, v := range r.Values {
					if v == "" || len(v) > maxSubjectLen {
						t.Errorf("rule %q has an empty or too long value", r.String())
					}
				}
				b.WriteString(r.String() + "\n")
			}
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("compiled rules differ from %s:\n got:\n%s\nwant:\n%s", golden, b.String(), want)
			}
		})
	}
}

// TestCompileDeterministic: the same role in any order of its rights compiles
// to the same sorted rules.
func TestCompileDeterministic(t *testing.T) {
	a := rolegate.Role{ID: "r1", EntityID: "e", Permissions: rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}, {ActionName: "approve", Permission: rolegate.AllowedForOwn}}},
		{ObjectType: "receipt", Actions: []rolegate.ActionPermission{{ActionName: "delete", Permission: rolegate.Denied}}},
	}}}
	b := a
	b.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "receipt", Actions: []rolegate.ActionPermission{{ActionName: "delete", Permission: rolegate.Denied}}},
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "approve", Permission: rolegate.AllowedForOwn}, {ActionName: "read", Permission: rolegate.Allowed}}},
	}}
	ra, rb := Compile(a), Compile(b)
	if len(ra) != 3 || len(ra) != len(rb) {
		t.Fatalf("rules: %v vs %v", ra, rb)
	}
	for i := range ra {
		if ra[i].String() != rb[i].String() {
			t.Fatalf("order matters: %v vs %v", ra, rb)
		}
	}
	a.Status = rolegate.StatusDeleted
	if got := Compile(a); len(got) != 0 {
		t.Fatalf("a deleted role compiles to %v", got)
	}
}

// TestSubjectsFitAndDiffer: long ids are hashed to fit casbin_rule's columns,
// and the kinds of subject never collide.
func TestSubjectsFitAndDiffer(t *testing.T) {
	long := strings.Repeat("x", 255)
	for _, s := range []string{UserSubject(long), ScopedSubject("team:1", long), ScopedSubject(strings.Repeat("t", 128), "u")} {
		if len(s) > maxSubjectLen {
			t.Errorf("subject %q is longer than %d", s, maxSubjectLen)
		}
	}
	if UserSubject(long) == UserSubject(long+"y") {
		t.Error("two long ids share a subject")
	}
	if UserSubject("team:1|jo") == ScopedSubject("team:1", "jo") {
		t.Error("a user id collides with a scoped subject")
	}
	if UserSubject("r:x") == RoleSubject("x") {
		t.Error("a user id collides with a role subject")
	}
}
