package systemtest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// report fetches the access report with the admin token in the given format.
func (s *server) report(t *testing.T, ent, accept string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/v1/entities/"+ent+"/access-report", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", accept)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

// TestAccessReportHTTP: the access report, in JSON and in CSV, holds exactly
// every user's effective rights as /users/{u}/permissions gives them
// (entity-wide, and inside a scope beyond those), each with the roles whose
// rights give exactly that value.
func TestAccessReportHTTP(t *testing.T) {
	f := newExtrasFixture(t, 5, 5, 12)
	s := f.s
	// What each role gives: name -> "object/action" -> permission.
	gives := map[string]map[string]string{}
	for _, id := range f.roles {
		r := mustAs[api.Role](s, 200, "GET", "/v1/entities/acme/roles/"+id, nil)
		m := map[string]string{}
		for _, o := range r.Permissions.Objects {
			for _, a := range o.Actions {
				m[fmt.Sprintf("%s/%s", o.ObjectType, a.ActionName)] = a.Permission
			}
		}
		gives[r.Name] = m
	}
	// The oracle: effective rights; and the roles each user holds.
	want := map[string]bool{}
	wide := f.effective(t)
	for k := range wide {
		if strings.Contains(k, " team:1 ") && wide[strings.Replace(k, " team:1 ", " - ", 1)] {
			continue // held entity-wide: reported once
		}
		want[k] = true
	}
	held := map[string][]string{} // "user scope" -> role names
	for _, u := range f.users {
		for _, r := range mustAs[api.Page[api.UserRole]](s, 200, "GET", "/v1/entities/acme/users/"+u+"/roles", nil).Data {
			sc := ""
			if r.Scope != nil {
				sc = *r.Scope
			}
			name := r.Role.Name
			held[u+" -"] = append(held[u+" -"], name)
			if sc != "" {
				held[u+" "+sc] = append(held[u+" "+sc], name)
				held[u+" -"] = held[u+" -"][:len(held[u+" -"])-1]
			}
		}
	}
	st, h, body := s.report(t, "acme", "application/json")
	if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("report: %d %s %.200s", st, h.Get("Content-Type"), body)
	}
	var rep api.AccessReport
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not JSON: %v: %.300s", err, body)
	}
	got := map[string]bool{}
	for _, r := range rep.Data {
		sc := "-"
		if r.Scope != nil {
			sc = *r.Scope
		}
		k := fmt.Sprintf("%s %s %s/%s=%s", r.UserID, sc, r.ObjectType, r.Action, r.Permission)
		if got[k] {
			t.Fatalf("row %s twice", k)
		}
		got[k] = true
		// The roles behind: exactly the roles held (entity-wide, and in the
		// scope for a scoped row) whose rights give this value.
		var via, wantVia []string
		for _, v := range r.Via {
			via = append(via, *v.RoleName)
		}
		holders := append([]string(nil), held[r.UserID+" -"]...)
		if sc != "-" {
			holders = append(holders, held[r.UserID+" "+sc]...)
		}
		for _, name := range holders {
			if gives[name][r.ObjectType+"/"+r.Action] == r.Permission && !contains(wantVia, name) {
				wantVia = append(wantVia, name)
			}
		}
		sort.Strings(via)
		sort.Strings(wantVia)
		if !reflect.DeepEqual(via, wantVia) {
			t.Fatalf("row %s: via %v, want %v", k, via, wantVia)
		}
	}
	if !reflect.DeepEqual(got, want) || len(want) < 20 || rep.EntityID != "acme" || rep.Revision < 1 {
		t.Fatalf("report rows (%d):\n%v\nwant (%d):\n%v", len(got), got, len(want), want)
	}
	// The same rows in CSV.
	st, h, body = s.report(t, "acme", "text/csv")
	if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv report: %d %s", st, h.Get("Content-Type"))
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) != len(rep.Data)+1 || strings.Join(recs[0], ",") != "user_id,scope,object_type,action,permission,role_ids,role_names,condition,violates" {
		t.Fatalf("csv: %v, %d records for %d rows: %v", err, len(recs), len(rep.Data), recs[:1])
	}
	for i, r := range recs[1:] {
		j := rep.Data[i]
		if r[0] != j.UserID || r[2] != j.ObjectType || r[3] != j.Action || r[4] != j.Permission {
			t.Fatalf("csv row %d %v, json %+v", i, r, j)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
