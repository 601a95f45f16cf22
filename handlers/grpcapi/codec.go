package grpcapi

import (
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/rolegate/rolegate"
	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/condition"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/handlers"
)

// codec is the proto codec, but a BatchCheckRequest is decoded no further
// than its check past handlers.MaxBatch (which the call then refuses as
// invalid_batch): 1 MiB of empty checks would otherwise become half a million
// structs before the count is seen, as a JSON batch did (decodelimit.go).
// A check's resource is cut on the wire likewise (resourcecut.go).
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("grpcapi: cannot marshal %T", v)
	}
	return proto.Marshal(m)
}

func (codec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("grpcapi: cannot unmarshal %T", v)
	}
	switch v.(type) {
	case *rolegatev1.BatchCheckRequest:
		data = cutBatch(firstChecks(data, handlers.MaxBatch+1))
	case *rolegatev1.CheckRequest:
		data, _ = cutCheck(data)
	}
	return proto.Unmarshal(data, m)
}

// firstChecks returns data cut after its n-th field, or whole when it holds
// fewer (or does not parse: proto.Unmarshal then says why).
func firstChecks(data []byte, n int) []byte {
	off := 0
	for i := 0; i < n && off < len(data); i++ {
		num, typ, l := protowire.ConsumeTag(data[off:])
		if l < 0 {
			return data
		}
		m := protowire.ConsumeFieldValue(num, typ, data[off+l:])
		if m < 0 {
			return data
		}
		off += l + m
	}
	return data[:off]
}

// resourceOf is a check's resource as the service takes it: a Struct's
// numbers are float64 already. Too many names, and a nested object, are
// refused here, before anything is copied; the service checks the rest
// (names, lengths: condition.Normalize) as it does over HTTP. field names
// the resource in the error ("resource", "checks[3].resource").
func resourceOf(s *structpb.Struct, field string, cut int) (map[string]any, error) {
	if cut > 0 {
		return nil, invalidAttributes(field, fmt.Sprintf("%d attributes; at most %d", cut, condition.MaxAttributes))
	}
	fields := s.GetFields()
	if len(fields) == 0 {
		return nil, nil
	}
	if len(fields) > condition.MaxAttributes {
		return nil, invalidAttributes(field, fmt.Sprintf("%d attributes; at most %d", len(fields), condition.MaxAttributes))
	}
	out := make(map[string]any, len(fields))
	// In name order, so that the first bad attribute is the one named.
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		x, err := valueOf(fields[name], true)
		if err != nil {
			return nil, invalidAttributes(field, (&condition.AttributeError{Name: name, Message: err.Error()}).Error())
		}
		out[name] = x
	}
	return out, nil
}

// valueOf is one Struct value as Go: null, bool, float64, string, or (at the
// top only) a list of those.
func valueOf(v *structpb.Value, top bool) (any, error) {
	switch k := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return nil, nil
	case *structpb.Value_BoolValue:
		return k.BoolValue, nil
	case *structpb.Value_NumberValue:
		return k.NumberValue, nil
	case *structpb.Value_StringValue:
		return k.StringValue, nil
	case *structpb.Value_StructValue:
		return nil, fmt.Errorf("objects are not allowed as values (use flat names such as owner_department)")
	case *structpb.Value_ListValue:
		if !top {
			return nil, fmt.Errorf("lists may hold only null, booleans, numbers and strings")
		}
		items := k.ListValue.GetValues()
		if len(items) > condition.MaxAttributeString {
			return nil, fmt.Errorf("a list of %d items; at most %d", len(items), condition.MaxAttributeString)
		}
		out := make([]any, len(items))
		for i, item := range items {
			x, err := valueOf(item, false)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("a value of an unknown kind")
}

// invalidAttributes is the service's refusal of attributes (422
// invalid_attributes over HTTP), naming field.
func invalidAttributes(field, msg string) error {
	return &rolegate.Error{Kind: rolegate.KindInvalid, Code: "invalid_attributes", Message: field + ": " + msg,
		Details: []rolegate.Detail{{Field: field, Message: msg}}}
}

// matchOf is a rule that decided, with its condition's value or error.
func matchOf(m engine.Match) *rolegatev1.Match {
	return &rolegatev1.Match{RoleId: m.RoleID, RoleName: m.RoleName, Permission: string(m.Permission),
		Condition: m.Condition, ConditionValue: m.ConditionValue, ConditionError: m.ConditionError}
}
