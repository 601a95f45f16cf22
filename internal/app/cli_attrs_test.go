package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/rolegate/rolegate/client"
)

func TestAttrValue(t *testing.T) {
	for in, want := range map[string]any{
		"1200": json.Number("1200"), "-3.5": json.Number("-3.5"), "1e3": json.Number("1e3"),
		"true": true, "false": false, "null": nil, `"1200"`: "1200", `["a",1]`: []any{"a", json.Number("1")},
		"EUR": "EUR", "": "", "007": "007", "1200abc": "1200abc", "-": "-", "2026-01-01": "2026-01-01",
		"True": "True", "a=b": "a=b", "[unclosed": "[unclosed", " spaced ": " spaced ", `{"a":1}`: `{"a":1}`,
	} {
		if got := attrValue(in); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %#v, want %#v", in, got, want)
		}
	}
}

func TestAttrFlags(t *testing.T) {
	f := attrFlags{name: "resource", pairs: []string{"amount=1200", "currency=EUR", "note=a=b", "tags=[\"x\"]"}, object: `{"urgent":true,"n":1.5}`}
	got, err := f.attributes()
	want := map[string]any{"amount": json.Number("1200"), "currency": "EUR", "note": "a=b", "tags": []any{"x"}, "urgent": true, "n": json.Number("1.5")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%#v %v", got, err)
	}
	if m, err := (&attrFlags{}).attributes(); m != nil || err != nil {
		t.Fatalf("no flags: %v %v", m, err)
	}
	if m, err := (&attrFlags{object: "{}"}).attributes(); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("{}: %v %v", m, err)
	}
	for _, bad := range []attrFlags{
		{pairs: []string{"amount"}}, {pairs: []string{"=1"}}, {pairs: []string{"a=1", "a=2"}},
		{object: `{"a":1}`, pairs: []string{"a=2"}}, {object: "[1]"}, {object: "null"}, {object: `{"a":1} {}`}, {object: "{"},
	} {
		var u usageError
		if _, err := bad.attributes(); !errors.As(err, &u) {
			t.Errorf("%+v: %v, want a usage error", bad, err)
		}
	}
}

// A role whose condition changed differs; one whose condition differs only
// in surrounding spaces (a YAML block's newline) does not.
func TestSameRoleCondition(t *testing.T) {
	perms := func(cond string) client.Permissions {
		return client.Permissions{Objects: []client.ObjectPermissions{{ObjectType: "payable", Actions: []client.ActionPermission{
			{ActionName: "approve", Permission: "allowed", Condition: cond}}}}}
	}
	role := client.Role{Permissions: perms("resource.amount < 1000")}
	for cond, same := range map[string]bool{"resource.amount < 1000": true, "resource.amount < 1000\n": true,
		"resource.amount < 2000": false, "": false} {
		if got := sameRole(roleSpec{Permissions: perms(cond)}, role); got != same {
			t.Errorf("%q: same %v, want %v", cond, got, same)
		}
	}
	if sameRole(roleSpec{Permissions: perms("true")}, client.Role{Permissions: perms("")}) {
		t.Error("a condition added is no change")
	}
}

// fakeRolegate answers the calls the CLI makes and keeps their bodies.
type fakeRolegate struct {
	mu     sync.Mutex
	bodies map[string][]byte
	answer map[string]string
}

func (f *fakeRolegate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies[r.Method+" "+r.URL.Path] = b
	a := f.answer[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if a == "" {
		w.WriteHeader(404)
		a = `{"error":{"code":"not_found","message":"no"}}`
	}
	w.Write([]byte(a))
}

func TestCLISendsAttributes(t *testing.T) {
	f := &fakeRolegate{bodies: map[string][]byte{}, answer: map[string]string{
		"POST /v1/check": `{"allowed":false,"permission":"denied","revision":7,"matched":[` +
			`{"role_id":"r1","role_name":"approver","permission":"allowed","condition":"resource.amount < 1000","condition_value":false},` +
			`{"role_id":"r2","role_name":"auditor","permission":"denied","condition":"user.level < resource.level","condition_error":"no such key: level"},` +
			`{"role_id":null,"role_name":null,"permission":"allowed"}]}`,
		"PATCH /v1/entities/acme/users/u-1": `{"id":"u-1","entity_id":"acme","roles":[],"attributes":{"level":3}}`,
		"POST /v1/entities/acme/users":      `{"id":"u-2","entity_id":"acme","roles":[],"attributes":{"level":1}}`,
		"GET /v1/entities/acme":             `{"id":"acme","name":"","revision":7}`,
		"GET /v1/entities/acme/users/u-1":   `{"id":"u-1","entity_id":"acme","email":"a@x","roles":[],"attributes":{"level":3,"dept":"fin"}}`,
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := Run(t.Context(), append(args, "--server", srv.URL, "--token", "t", "-e", "acme"), func(string) string { return "" }, &out, &errb)
		return out.String(), err
	}
	body := func(key string) map[string]any {
		t.Helper()
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(f.bodies[key]))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return m
	}
	out, err := run("check", "u-1", "payable", "approve", "--attr", "amount=1200", "--attr", "currency=EUR", "--resource", `{"urgent":true}`, "--explain")
	if err != nil {
		t.Fatal(err)
	}
	if got := body("POST /v1/check")["resource"]; !reflect.DeepEqual(got, map[string]any{"amount": json.Number("1200"), "currency": "EUR", "urgent": true}) {
		t.Fatalf("resource sent: %#v", got)
	}
	for _, want := range []string{"denied (denied) at revision 7", "CONDITION", "VALUE", "resource.amount < 1000", "false",
		"error: no such key: level"} {
		if !strings.Contains(out, want) {
			t.Fatalf("explain output lacks %q:\n%s", want, out)
		}
	}
	// Without a resource, none is sent.
	if _, err := run("check", "u-1", "payable", "approve"); err != nil {
		t.Fatal(err)
	}
	if _, ok := body("POST /v1/check")["resource"]; ok {
		t.Fatal("a resource was sent without --attr")
	}
	// A bad --attr is refused before anything is sent.
	delete(f.bodies, "POST /v1/check")
	if _, err := run("check", "u-1", "payable", "approve", "--attr", "amount"); !errors.Is(err, ErrUsage) || f.bodies["POST /v1/check"] != nil {
		t.Fatalf("--attr amount: %v", err)
	}
	if _, err := run("users", "update", "u-1", "--attr", "level=3"); err != nil {
		t.Fatal(err)
	}
	if m := body("PATCH /v1/entities/acme/users/u-1"); !reflect.DeepEqual(m, map[string]any{"attributes": map[string]any{"level": json.Number("3")}}) {
		t.Fatalf("patch sent: %#v", m)
	}
	if _, err := run("users", "update", "u-1", "--attributes", "{}"); err != nil {
		t.Fatal(err)
	}
	if m := body("PATCH /v1/entities/acme/users/u-1"); !reflect.DeepEqual(m, map[string]any{"attributes": map[string]any{}}) {
		t.Fatalf("clearing patch sent: %#v", m)
	}
	if _, err := run("users", "update", "u-1"); !errors.Is(err, ErrUsage) {
		t.Fatalf("update without a change: %v", err)
	}
	if _, err := run("users", "create", "u-2", "--attr", "level=1"); err != nil {
		t.Fatal(err)
	}
	if m := body("POST /v1/entities/acme/users"); !reflect.DeepEqual(m, map[string]any{"id": "u-2", "attributes": map[string]any{"level": json.Number("1")}}) {
		t.Fatalf("create sent: %#v", m)
	}
	if out, err := run("users", "get", "u-1"); err != nil || !strings.Contains(out, `{"dept":"fin","level":3}`) {
		t.Fatalf("users get: %v\n%s", err, out)
	}
}
