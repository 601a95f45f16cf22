package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rolegate/rolegate/client"
)

// A 409 separation_of_duties hands its violations to the caller, and is not
// retried; any other error has none.
func TestSeparationOfDutiesError(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/entities/e/roles/r%2E1" || r.URL.RawPath == "/v1/entities/e/roles/r%2E1" {
			w.WriteHeader(409)
			w.Write([]byte(`{"error":{"code":"separation_of_duties","message":"refused","violations":[{"constraint_id":"k","constraint_name":"maker-checker","user_id":"alice","rights":[{"object_type":"payable","action":"create","permission":"allowed","roles":[{"role_id":"r.1","role_name":"maker","scope":""}],"own":false},{"object_type":"payable","action":"approve","permission":"allowed","roles":[],"own":true}]}]}}`))
			return
		}
		w.WriteHeader(404)
		w.Write([]byte(`{"error":{"code":"constraint_not_found","message":"no"}}`))
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("t"), client.WithRetries(3, 0))
	_, err := c.ReplaceRole(context.Background(), "e", "r.1", client.RoleInput{}, 0)
	vs := client.ViolationsOf(err)
	if !client.IsCode(err, "separation_of_duties") || len(vs) != 1 || vs[0].UserID != "alice" || vs[0].ConstraintName != "maker-checker" ||
		len(vs[0].Rights) != 2 || !vs[0].Rights[1].Own || vs[0].Rights[0].Roles[0].RoleName != "maker" || calls != 1 {
		t.Fatalf("%v %+v (%d calls)", err, vs, calls)
	}
	_, err = c.GetConstraint(context.Background(), "e", "k")
	if !client.IsCode(err, "constraint_not_found") || client.ViolationsOf(err) != nil {
		t.Fatalf("%v", err)
	}
}
