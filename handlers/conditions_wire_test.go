package handlers

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// A right's condition travels both ways between the wire and the domain, and
// a right without one is written as before (no condition key).
func TestConditionRightsRoundTrip(t *testing.T) {
	const body = `{"objects":[{"object_type":"payable","actions":[` +
		`{"action_name":"approve","permission":"allowed","condition":"resource.amount \u003c= 10000.0 \u0026\u0026 resource.currency == 'EUR'"},` +
		`{"action_name":"read","permission":"allowed"}]}]}`
	var doc wire.Permissions
	if err := decodeBytes([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	p := policy.RightsOf(doc)
	want := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{
		{ActionName: "approve", Permission: rolegate.Allowed, Condition: "resource.amount <= 10000.0 && resource.currency == 'EUR'"},
		{ActionName: "read", Permission: rolegate.Allowed}}}}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("domain: %+v\nwant %+v", p, want)
	}
	b, _ := json.Marshal(permissionsOf(p))
	if string(b) != body {
		t.Fatalf("wire: %s\nwant %s", b, body)
	}
	in := roleInput(wire.RoleInput{Permissions: &doc})
	if !reflect.DeepEqual(*in.Permissions, want) {
		t.Fatalf("role input: %+v", *in.Permissions)
	}
	// Stored text keeps it too (EncodeRights is DocOf).
	s, _ := policy.EncodeRights(p)
	back, err := policy.DecodeRights(s)
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("stored: %s -> %+v %v", s, back, err)
	}
}

// A user's attributes are always written, {} when there are none.
func TestUserAttributesWire(t *testing.T) {
	u := rolegate.User{ID: "u1", EntityID: "e1"}
	b, _ := json.Marshal(userOf(u, false))
	if !strings.Contains(string(b), `"roles":[],"attributes":{},"created_at"`) {
		t.Fatalf("no attributes: %s", b)
	}
	u.Attributes = map[string]any{"approval_limit": 5000.0, "department": "finance"}
	b, _ = json.Marshal(userOf(u, false))
	if !strings.Contains(string(b), `"attributes":{"approval_limit":5000,"department":"finance"}`) {
		t.Fatalf("attributes: %s", b)
	}
	// Input: absent is nil (unchanged), {} is an empty map (clears).
	for body, want := range map[string]*map[string]any{
		`{"name":"x"}`:                  nil,
		`{"attributes":{}}`:             {},
		`{"attributes":{"limit":1200}}`: {"limit": 1200.0},
	} {
		var p wire.UserPatch
		if err := decodeBytes([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p.Attributes, want) {
			t.Errorf("%s: %v, want %v", body, p.Attributes, want)
		}
	}
}

// A check's resource of flat values takes the plain path, its numbers as
// float64 as encoding/json decodes them, and reaches the service.
func TestCheckResourceDecoded(t *testing.T) {
	body := []byte(`{"entity_id":"e1","user_id":"u1","object_type":"payable","action":"approve","resource":{"amount":1200,"currency":"EUR","tags":["a",1.5,true,null]}}`)
	if !decodePlain(body, new(wire.CheckRequest)) {
		t.Fatal("the plain path declined a resource of flat values")
	}
	if decodePlain([]byte(`{"resource":{"a":{"b":1}}}`), new(wire.CheckRequest)) {
		t.Fatal("the plain path decoded a nested object (left to the strict decoder, which names it)")
	}
	var r wire.CheckRequest
	if err := decodeBytes(body, &r); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"amount": 1200.0, "currency": "EUR", "tags": []any{"a", 1.5, true, nil}}
	if !reflect.DeepEqual(r.Resource, want) {
		t.Fatalf("resource %#v", r.Resource)
	}
	if in := checkInput(r); !reflect.DeepEqual(in.Resource, want) {
		t.Fatalf("to the service: %#v", in.Resource)
	}
	var batch wire.CheckBatch
	if err := decodeBytes([]byte(`{"checks":[`+string(body)+`,{"entity_id":"e1"}]}`), &batch); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(batch.Checks[0].Resource, want) || batch.Checks[1].Resource != nil {
		t.Fatalf("batch: %+v", batch.Checks)
	}
	for _, bad := range []string{`{"resource":[1]}`, `{"resource":"amount=1"}`, `{"resource":1}`} {
		var r wire.CheckRequest
		if err := decodeBytes([]byte(bad), &r); err == nil {
			t.Errorf("%s: decoded", bad)
		}
	}
}

// Explained matches carry the condition, its value or its error; the
// answers without explanation keep their bytes.
func TestMatchConditionWire(t *testing.T) {
	yes, no := true, false
	d := engine.Decision{Allowed: false, Permission: rolegate.NotAllowed, Revision: 3,
		Matched: []engine.Match{
			{RoleID: "r1", RoleName: "approver", Permission: rolegate.Allowed, Condition: "resource.amount <= 10.0", ConditionValue: &no},
			{RoleID: "r2", RoleName: "blocked", Permission: rolegate.Denied, Condition: "resource.region == 'x'", ConditionError: "no such key: region"},
			{RoleID: "r3", RoleName: "reader", Permission: rolegate.Allowed, Condition: "true", ConditionValue: &yes},
			{Permission: rolegate.Allowed}},
		DeniedBy: []engine.Match{{RoleID: "r2", RoleName: "blocked", Permission: rolegate.Denied, Condition: "resource.region == 'x'", ConditionError: "no such key: region"}}}
	b, _ := json.Marshal(checkOf(d, true))
	want := `{"allowed":false,"permission":"not_allowed","revision":3,"matched":[` +
		`{"role_id":"r1","role_name":"approver","permission":"allowed","condition":"resource.amount \u003c= 10.0","condition_value":false},` +
		`{"role_id":"r2","role_name":"blocked","permission":"denied","condition":"resource.region == 'x'","condition_error":"no such key: region"},` +
		`{"role_id":"r3","role_name":"reader","permission":"allowed","condition":"true","condition_value":true},` +
		`{"role_id":null,"role_name":null,"permission":"allowed"}],` +
		`"denied_by":[{"role_id":"r2","role_name":"blocked","permission":"denied","condition":"resource.region == 'x'","condition_error":"no such key: region"}]}`
	if string(b) != want {
		t.Fatalf("explained:\n%s\nwant\n%s", b, want)
	}
	b, _ = json.Marshal(checkOf(d, false))
	if string(b) != `{"allowed":false,"permission":"not_allowed","revision":3}` {
		t.Fatalf("not explained: %s", b)
	}
}

// Who-can, dry runs and the report carry the condition; without one, their
// bytes are as before.
func TestConditionExtrasWire(t *testing.T) {
	h := wire.Holder{UserID: "u1", Permission: "allowed", Via: viaOf(nil), Condition: "resource.amount <= user.limit"}
	b, _ := json.Marshal(h)
	if string(b) != `{"user_id":"u1","permission":"allowed","via":[],"condition":"resource.amount \u003c= user.limit"}` {
		t.Fatalf("holder: %s", b)
	}
	rs := rightsOf([]engine.Right{{UserID: "u1", ObjectType: "doc", Action: "read", Permission: rolegate.Allowed, Condition: "now.getHours() < 18"},
		{UserID: "u1", ObjectType: "doc", Action: "list", Permission: rolegate.Allowed}})
	b, _ = json.Marshal(rs)
	if string(b) != `[{"user_id":"u1","object_type":"doc","action":"read","permission":"allowed","condition":"now.getHours() \u003c 18"},{"user_id":"u1","object_type":"doc","action":"list","permission":"allowed"}]` {
		t.Fatalf("rights: %s", b)
	}
}

// who-can's resource parameter: a JSON object, else invalid_attributes.
func TestResourceParam(t *testing.T) {
	for raw, want := range map[string]map[string]any{
		`{"amount":1200,"currency":"EUR"}`: {"amount": json.Number("1200"), "currency": "EUR"},
		`{}`:                               {},
		` {"a" : [1, "x"]} `:               {"a": []any{json.Number("1"), "x"}},
	} {
		got, err := resourceParam(url.Values{"resource": {raw}})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v %v", raw, got, err)
		}
	}
	for _, q := range []url.Values{{}, {"resource": {""}}} {
		if got, err := resourceParam(q); got != nil || err != nil {
			t.Errorf("%v: %v %v", q, got, err)
		}
	}
	for _, q := range []url.Values{
		{"resource": {`{"a":1`}}, {"resource": {`[1]`}}, {"resource": {`null`}}, {"resource": {`"x"`}}, {"resource": {`12`}},
		{"resource": {`{"a":1} {}`}}, {"resource": {"{\"a\":\"\xff\"}"}}, {"resource": {`{}`, `{}`}},
		{"resource": {`{"a":"` + strings.Repeat("x", MaxResourceParam) + `"}`}},
	} {
		_, err := resourceParam(q)
		var e *rolegate.Error
		if !asError(err, &e) || e.Code != "invalid_attributes" || e.Kind != rolegate.KindInvalid {
			t.Errorf("%.60v: %v", q, err)
		}
	}
}

func asError(err error, e **rolegate.Error) bool {
	x, ok := err.(*rolegate.Error)
	*e = x
	return ok
}

// The hand-written check answers stay encoding/json's with conditional
// matches in the decision (written through c.JSON).
func TestCheckJSONWithConditions(t *testing.T) {
	no := false
	until := time.Date(2026, 12, 5, 19, 43, 52, 0, time.UTC)
	r := wire.Decision{Allowed: false, Permission: "not_allowed", ValidUntil: &until,
		Matched: []wire.Match{{Permission: "allowed", Condition: "resource.amount < 1.0", ConditionValue: &no}}}
	if _, ok := appendCheckJSON(nil, &r); ok {
		t.Fatal("an explained answer was written by hand")
	}
}
