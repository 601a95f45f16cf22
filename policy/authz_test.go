package policy_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// authzCase is one case of testdata/authz.json, the authorization table that
// also runs through the HTTP API (cmd/rolegate).
type authzCase struct {
	Name  string `json:"name"`
	Roles []struct {
		Name        string                `json:"name"`
		Permissions policy.PermissionsDoc `json:"permissions"`
	} `json:"roles"`
	Users []struct {
		ID     string    `json:"id"`
		Roles  *[]string `json:"roles"`
		Scoped []struct {
			Role  string `json:"role"`
			Scope string `json:"scope"`
		} `json:"scoped"`
	} `json:"users"`
	Checks []struct {
		User       string `json:"user"`
		ObjectType string `json:"object_type"`
		Action     string `json:"action"`
		OwnerID    string `json:"owner_id"`
		Scope      string `json:"scope"`
		Allowed    bool   `json:"allowed"`
		Permission string `json:"permission"`
	} `json:"checks"`
}

// newService is a service over a store in memory.
func newService(t *testing.T) *policy.Service {
	t.Helper()
	svc, _ := testkit.Service(t)
	return svc
}

// TestAuthorizationTable runs testdata/authz.json against the service and its
// engine over a store in memory.
func TestAuthorizationTable(t *testing.T) {
	data, err := os.ReadFile("../testdata/authz.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []authzCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	svc := newService(t)
	ctx := auth.Internal(context.Background())
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			ent, err := svc.CreateEntity(ctx, policy.EntityInput{})
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]string{}
			system, err := svc.ListRoles(ctx, ent.ID, policy.RoleFilter{}, policy.Page{Limit: 100, Sort: "name"})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range system {
				ids[r.Name] = r.ID
			}
			for _, rc := range c.Roles {
				p := policy.RightsOf(rc.Permissions)
				name := rc.Name
				r, _, err := svc.CreateRole(ctx, ent.ID, policy.RoleInput{Name: &name, Permissions: &p})
				if err != nil {
					t.Fatal(err)
				}
				ids[r.Name] = r.ID
			}
			for _, u := range c.Users {
				in := policy.UserInput{ID: u.ID}
				if u.Roles != nil {
					roleIDs := []string{}
					for _, n := range *u.Roles {
						roleIDs = append(roleIDs, ids[n])
					}
					in.RoleIDs = &roleIDs
				}
				if _, _, err := svc.CreateUser(ctx, ent.ID, in); err != nil {
					t.Fatal(err)
				}
				for _, sc := range u.Scoped {
					if _, _, err := svc.AssignRole(ctx, ent.ID, u.ID, ids[sc.Role], sc.Scope); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, ch := range c.Checks {
				d, err := svc.Check(ctx, policy.CheckRequest{EntityID: ent.ID, UserID: ch.User, ObjectType: ch.ObjectType,
					Action: ch.Action, OwnerID: ch.OwnerID, Scope: ch.Scope, Explain: true})
				if err != nil {
					t.Fatalf("check %+v: %v", ch, err)
				}
				if d.Allowed != ch.Allowed || string(d.Permission) != ch.Permission {
					t.Errorf("check %+v: got allowed=%v permission=%v (matched %+v), want %v %v",
						ch, d.Allowed, d.Permission, d.Matched, ch.Allowed, ch.Permission)
				}
			}
		})
	}
}
