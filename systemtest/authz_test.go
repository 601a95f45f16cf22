package systemtest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// authzFile is testdata/authz.json: authorization behaviour as data.
type authzFile struct {
	Cases []struct {
		Name  string            `json:"name"`
		Roles []json.RawMessage `json:"roles"`
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
	} `json:"cases"`
}

func loadAuthz(t *testing.T) authzFile {
	data, err := os.ReadFile("../testdata/authz.json")
	if err != nil {
		t.Fatal(err)
	}
	var f authzFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestAuthorizationTableHTTP runs the authorization table through the HTTP
// API of the real server.
func TestAuthorizationTableHTTP(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	for i, c := range loadAuthz(t).Cases {
		t.Run(c.Name, func(t *testing.T) {
			s.t = t
			ent := fmt.Sprintf("authz-%d", i)
			s.must(201, "POST", "/v1/entities", map[string]any{"id": ent})
			roleIDs := map[string]string{}
			list := mustAs[api.Page[api.Role]](s, 200, "GET", "/v1/entities/"+ent+"/roles?role_type=system", nil)
			for _, r := range list.Data {
				roleIDs[r.Name] = r.ID
			}
			for _, raw := range c.Roles {
				r := mustAs[api.Role](s, 201, "POST", "/v1/entities/"+ent+"/roles", raw)
				roleIDs[r.Name] = r.ID
			}
			for _, u := range c.Users {
				body := map[string]any{"id": u.ID}
				if u.Roles != nil {
					ids := []string{}
					for _, name := range *u.Roles {
						ids = append(ids, roleIDs[name])
					}
					body["role_ids"] = ids
				}
				s.must(201, "POST", "/v1/entities/"+ent+"/users", body)
				for _, sc := range u.Scoped {
					s.must(200, "PUT", "/v1/entities/"+ent+"/users/"+urlPath(u.ID)+"/roles/"+roleIDs[sc.Role], map[string]any{"scope": sc.Scope})
				}
			}
			for _, ch := range c.Checks {
				out := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": ent, "user_id": ch.User,
					"object_type": ch.ObjectType, "action": ch.Action, "owner_id": ch.OwnerID, "scope": ch.Scope})
				if out.Allowed != ch.Allowed || out.Permission != ch.Permission {
					t.Errorf("check %+v: got allowed=%v permission=%v, want %v %v", ch, out.Allowed, out.Permission, ch.Allowed, ch.Permission)
				}
			}
		})
	}
}

func urlPath(s string) string { return strings.ReplaceAll(s, "|", "%7C") }
