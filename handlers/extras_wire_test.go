package handlers

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// The bodies of who can, dry runs, the access report, the import, a user's
// roles and the catalog are the api module's types; these are the bytes the handlers' own
// structs wrote before they moved there, and must stay so.
func TestExtrasWireBytes(t *testing.T) {
	s := func(x string) *string { return &x }
	via := viaOf([]engine.Match{{RoleID: "r1", RoleName: "Admin", Permission: "allowed"}, {Permission: "allowed"}})
	const viaBytes = `[{"role_id":"r1","role_name":"Admin"},{"role_id":null,"role_name":null,"direct":true}]`
	var nilCatalog []wire.CatalogObject
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"who can", wire.HolderPage{Data: []wire.Holder{{UserID: "u1", Permission: "allowed", Via: via}}, NextPaginationToken: s("tok")},
			`{"data":[{"user_id":"u1","permission":"allowed","via":` + viaBytes + `}],"next_pagination_token":"tok"}`},
		{"who can, empty", wire.HolderPage{Data: []wire.Holder{}}, `{"data":[],"next_pagination_token":null}`},
		{"report row", wire.ReportRow{UserID: "u1", ObjectType: "doc", Action: "read", Permission: "allowed", Via: via},
			`{"user_id":"u1","scope":null,"object_type":"doc","action":"read","permission":"allowed","via":` + viaBytes + `}`},
		{"report row, scoped", wire.ReportRow{UserID: "u1", Scope: nullable("team:1"), ObjectType: "doc", Action: "read", Permission: "allowed", Via: viaOf(nil)},
			`{"user_id":"u1","scope":"team:1","object_type":"doc","action":"read","permission":"allowed","via":[]}`},
		{"user roles, none", wire.UserRoles{Data: []wire.UserRole{}}, `{"data":[]}`},
		{"import", wire.ImportResult{Created: 1, Updated: 2, Unchanged: 3, Revision: 4}, `{"created":1,"updated":2,"unchanged":3,"revision":4}`},
		{"catalog, none", wire.ObjectTypes{Data: []wire.CatalogObject{}}, `{"data":[],"enforced":false}`},
		{"catalog, nil", wire.ObjectTypes{Data: nilCatalog, Enforced: true}, `{"data":null,"enforced":true}`},
		{"catalog", wire.ObjectTypes{Data: []wire.CatalogObject{{ObjectType: "doc", Actions: []string{"read"}}, {ObjectType: "x"}}, Enforced: true},
			`{"data":[{"object_type":"doc","actions":["read"]},{"object_type":"x","actions":null}],"enforced":true}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%s: %s, %v; want %s", c.name, b, err, c.want)
		}
	}

	for _, c := range []struct {
		res  *policy.DryRunResult
		want string
	}{
		{&policy.DryRunResult{
			Gained: []engine.Right{{UserID: "u1", Scope: "team:1", ObjectType: "doc", Action: "read", Permission: "allowed"}},
			Lost:   []engine.Right{{UserID: "u2", ObjectType: "doc", Action: "write", Permission: "allowed_for_own"}}},
			`{"dry_run":true,"gained":[{"user_id":"u1","scope":"team:1","object_type":"doc","action":"read","permission":"allowed"}],"lost":[{"user_id":"u2","object_type":"doc","action":"write","permission":"allowed_for_own"}]}`},
		{&policy.DryRunResult{}, `{"dry_run":true,"gained":[],"lost":[]}`},
	} {
		w := httptest.NewRecorder()
		ctx, _ := gin.CreateTestContext(w)
		writeDryRun(ctx, c.res)
		if got := strings.TrimSpace(w.Body.String()); got != c.want {
			t.Errorf("dry run: %s; want %s", got, c.want)
		}
	}
}

// wire.AccessReport writes what accessReport streams by hand (its format).
func TestAccessReportShape(t *testing.T) {
	row := wire.ReportRow{UserID: "u1", ObjectType: "doc", Action: "read", Permission: "allowed", Via: viaOf(nil)}
	want, _ := json.Marshal(wire.AccessReport{EntityID: "e1", Revision: 7, Data: []wire.ReportRow{row, row}})
	r, _ := json.Marshal(row)
	got := `{"entity_id":"e1","revision":7,"data":[` + string(r) + "," + string(r) + "]}"
	if got != string(want) {
		t.Errorf("streamed %s; want %s", got, want)
	}
}
