package grpcapi

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/rolegate/rolegate"
	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/condition"
	"github.com/rolegate/rolegate/engine"
)

// A Struct's values become what conditions read: numbers float64, lists of
// scalars []any; nothing given is nil.
func TestResourceOf(t *testing.T) {
	s, err := structpb.NewStruct(map[string]any{"amount": 1200, "currency": "EUR", "urgent": true, "note": nil,
		"tags": []any{"a", 2, false, nil}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := resourceOf(s, "resource", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"amount": float64(1200), "currency": "EUR", "urgent": true, "note": nil,
		"tags": []any{"a", float64(2), false, nil}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	for _, empty := range []*structpb.Struct{nil, {}, {Fields: map[string]*structpb.Value{}}} {
		if m, err := resourceOf(empty, "resource", 0); m != nil || err != nil {
			t.Fatalf("%v: %v %v", empty, m, err)
		}
	}
	// A value with no kind set (possible on the wire) reads as null.
	m, err := resourceOf(&structpb.Struct{Fields: map[string]*structpb.Value{"x": {}}}, "resource", 0)
	if err != nil || len(m) != 1 || m["x"] != nil {
		t.Fatalf("kindless value: %v %v", m, err)
	}
}

// Attack: too many names and nested objects are refused before they are
// copied, as invalid_attributes naming the field (the service refuses the
// rest, as over HTTP: TestConditionsGRPC).
func TestResourceOfRefuses(t *testing.T) {
	many := map[string]*structpb.Value{}
	for i := range condition.MaxAttributes + 1 {
		many[fmt.Sprintf("a%03d", i)] = structpb.NewNumberValue(1)
	}
	huge := map[string]*structpb.Value{}
	for i := range 100_000 {
		huge[fmt.Sprintf("k%d", i)] = structpb.NewNullValue()
	}
	nested := structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"id": structpb.NewStringValue("d-1")}})
	deep := nested
	for range 50 {
		deep = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"x": deep}})
	}
	longList := make([]*structpb.Value, condition.MaxAttributeString+1)
	for i := range longList {
		longList[i] = structpb.NewBoolValue(true)
	}
	cases := map[string]map[string]*structpb.Value{
		"too many":       many,
		"far too many":   huge,
		"nested":         {"amount": structpb.NewNumberValue(1), "owner": nested},
		"deeply nested":  {"x": deep},
		"object in list": {"l": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{nested}})},
		"list in list":   {"l": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewListValue(&structpb.ListValue{})}})},
		"long list":      {"l": structpb.NewListValue(&structpb.ListValue{Values: longList})},
	}
	for name, fields := range cases {
		_, err := resourceOf(&structpb.Struct{Fields: fields}, "checks[2].resource", 0)
		var e *rolegate.Error
		if !errors.As(err, &e) || e.Kind != rolegate.KindInvalid || e.Code != "invalid_attributes" ||
			len(e.Details) != 1 || e.Details[0].Field != "checks[2].resource" {
			t.Fatalf("%s: %#v", name, err)
		}
	}
	// The first bad attribute in name order is the one named.
	_, err := resourceOf(&structpb.Struct{Fields: map[string]*structpb.Value{"b": nested, "a": nested, "c": nested}}, "resource", 0)
	if err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("named: %v", err)
	}
}

// A resource survives the codec (a batch cut included), and a match's
// condition, value and error reach the wire.
func TestResourceThroughCodecAndMatches(t *testing.T) {
	s, _ := structpb.NewStruct(map[string]any{"amount": 1200.5})
	in := &rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{{EntityId: "acme", Resource: s}}}
	data, _ := proto.Marshal(in)
	var out rolegatev1.BatchCheckRequest
	if err := (codec{}).Unmarshal(data, &out); err != nil || !proto.Equal(&out, in) {
		t.Fatalf("%v %v", &out, err)
	}
	q, err := domain(out.Checks[0], "checks[0].resource")
	if err != nil || q.Resource["amount"] != 1200.5 {
		t.Fatalf("%v %v", q, err)
	}
	yes := true
	ms := matches([]engine.Match{
		{RoleID: "r1", Permission: rolegate.Allowed, Condition: "resource.amount < 1000", ConditionValue: new(bool)},
		{RoleID: "r2", Permission: rolegate.Denied, Condition: "resource.x", ConditionError: "no such key: x"},
		{RoleID: "r3", Permission: rolegate.Allowed, Condition: "true", ConditionValue: &yes},
		{RoleID: "r4", Permission: rolegate.Allowed},
	})
	if ms[0].GetCondition() != "resource.amount < 1000" || ms[0].ConditionValue == nil || ms[0].GetConditionValue() ||
		ms[1].ConditionValue != nil || ms[1].GetConditionError() != "no such key: x" ||
		!ms[2].GetConditionValue() || ms[3].ConditionValue != nil || ms[3].GetCondition() != "" {
		t.Fatalf("%v", ms)
	}
	// optional bool: false is sent, and read back as set.
	b, _ := proto.Marshal(ms[0])
	var back rolegatev1.Match
	if err := proto.Unmarshal(b, &back); err != nil || back.ConditionValue == nil || *back.ConditionValue {
		t.Fatalf("%v %v", &back, err)
	}
}
