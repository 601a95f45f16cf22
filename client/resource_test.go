package client

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
)

// The gRPC transport sends a resource as the HTTP one does: numbers as
// float64, values structpb does not take through their JSON.
func TestResourceStruct(t *testing.T) {
	type code string
	s, err := resourceStruct(map[string]any{"amount": 1200, "currency": code("EUR"), "tags": []string{"a", "b"}, "ok": true, "none": nil})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := structpb.NewStruct(map[string]any{"amount": 1200.0, "currency": "EUR", "tags": []any{"a", "b"}, "ok": true, "none": nil})
	if !proto.Equal(s, want) {
		t.Fatalf("got %v, want %v", s, want)
	}
	if s, err := resourceStruct(nil); s != nil || err != nil {
		t.Fatalf("nil: %v %v", s, err)
	}
	if s, err := resourceStruct(map[string]any{}); s != nil || err != nil {
		t.Fatalf("empty: %v %v", s, err)
	}
	// An infinite number goes as one (the server refuses it as
	// invalid_attributes; over HTTP it cannot be encoded at all).
	if s, err := resourceStruct(map[string]any{"n": math.Inf(1)}); err != nil || !math.IsInf(s.GetFields()["n"].GetNumberValue(), 1) {
		t.Fatalf("inf: %v %v", s, err)
	}
	if _, err := protoRequest(CheckRequest{Resource: map[string]any{"f": func() {}}}); err == nil {
		t.Fatal("a func was encoded")
	}
	q, err := protoRequest(CheckRequest{EntityID: "e", Resource: map[string]any{"amount": 5}})
	if err != nil || q.GetResource().GetFields()["amount"].GetNumberValue() != 5 {
		t.Fatalf("%v %v", q, err)
	}
}

// A match's condition, value and error come back from the gRPC answer; a
// false value stays set.
func TestMatchesOfConditions(t *testing.T) {
	no := false
	ms := matchesOf([]*rolegatev1.Match{
		{RoleId: "r1", Permission: "allowed", Condition: "resource.amount < 1000", ConditionValue: &no},
		{Permission: "denied", Condition: "resource.x", ConditionError: "no such key"},
	})
	if ms[0].Condition != "resource.amount < 1000" || ms[0].ConditionValue == nil || *ms[0].ConditionValue ||
		ms[1].ConditionValue != nil || ms[1].ConditionError != "no such key" || ms[1].RoleID != nil {
		t.Fatalf("%+v", ms)
	}
}

// A rule's Resource goes into its check; without one there is none.
func TestRuleResource(t *testing.T) {
	subject := func(*http.Request) (string, string, error) { return "e", "u", nil }
	r := httptest.NewRequest("GET", "/payables/p-1?amount=1200", nil)
	rule := Rule{ObjectType: "payable", Action: "approve", Subject: subject,
		Resource: func(r *http.Request) map[string]any { return map[string]any{"id": r.URL.Path} }}
	cr, err := rule.Request(r)
	if err != nil || cr.Resource["id"] != "/payables/p-1" {
		t.Fatalf("%+v %v", cr, err)
	}
	rule.Resource = nil
	if cr, err := rule.Request(r); err != nil || cr.Resource != nil {
		t.Fatalf("%+v %v", cr, err)
	}
}

// Two resources with one key are one JSON to the server; nested values,
// strings that look like numbers, and names that look like separators keep
// their keys apart.
func TestResourceKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	scalars := []any{nil, true, false, "", "1", "a,b", `"q"`, "d1", 1, 1.0, int64(1), 1.5, -0.0, 0, 1 << 60, float64(1 << 60),
		json.Number("1"), []any{}, []any{"a"}, []string{"a"}, []any{1, "1"}, map[string]any{"a": 1}, struct{ A int }{1}}
	names := []string{"a", "b", `a":1,"b`, "", "d"}
	seen := map[string][]byte{}
	for range 20000 {
		m := map[string]any{}
		for range rng.IntN(4) {
			m[names[rng.IntN(len(names))]] = scalars[rng.IntN(len(scalars))]
		}
		k, ok := resourceKey(m)
		if !ok {
			t.Fatalf("%v not keyed", m)
		}
		j, _ := json.Marshal(m)
		if len(m) == 0 {
			j = nil
		}
		if prev, dup := seen[k]; dup && string(prev) != string(j) {
			t.Fatalf("key %q for %s and %s", k, prev, j)
		}
		seen[k] = j
	}
	if k1, _ := resourceKey(map[string]any{"amount": 1200}); k1 != func() string { k, _ := resourceKey(map[string]any{"amount": 1200.0}); return k }() {
		t.Fatal("1200 and 1200.0 are two keys")
	}
	if _, ok := resourceKey(map[string]any{"x": make(chan int)}); ok {
		t.Fatal("a channel was keyed")
	}
	if _, ok := resourceKey(map[string]any{"x": strings.Repeat("x", MaxResourceKey)}); ok {
		t.Fatal("a key past the bound")
	}
}
