package client

import (
	"math"
	"net/http"
	"net/http/httptest"
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
