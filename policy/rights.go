package policy

import (
	"encoding/json"
	"fmt"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/api"
)

// The canonical JSON encoding of rights, written here once:
//
//	{"objects": [{"object_type": "payable", "actions": [{"action_name": "read", "permission": "allowed"}]}]}
//
// It is the stored format (adapters keep a role's and a user's rights as this
// text, the audit log keeps it inside its snapshots, the role templates file
// is written in it) and the native shape on the wire (the native API and
// Monite's speak it). Stored text must read back as it was written, byte for
// byte, so the field names and their order are fixed.

// The encoding's owner is the api module (api.Permissions, whose limit tags,
// MaxRights, the transport's decoder reads as it reads a body); these names
// are policy's for it. Decode it with strict decoders (unknown fields
// refused, type errors naming the field) as any other struct; RightsOf turns
// it into the domain's rights.
type (
	PermissionsDoc = api.Permissions
	ObjectDoc      = api.ObjectPermissions
	ActionDoc      = api.ActionPermission
)

// RightsOf decodes the document. Values are checked by ValidatePermissions.
func RightsOf(d PermissionsDoc) rolegate.Permissions {
	out := rolegate.Permissions{}
	for _, o := range d.Objects {
		op := rolegate.ObjectPermissions{ObjectType: o.ObjectType}
		for _, a := range o.Actions {
			op.Actions = append(op.Actions, rolegate.ActionPermission{ActionName: a.ActionName, Permission: rolegate.Permission(a.Permission),
				Condition: a.Condition})
		}
		out.Objects = append(out.Objects, op)
	}
	return out
}

// DocOf encodes rights, as authored: no rights are {"objects": []} and an
// object type without actions has "actions": []. A right's condition is
// written only when it has one, so rights without conditions encode as they
// always did.
func DocOf(p rolegate.Permissions) PermissionsDoc {
	out := PermissionsDoc{Objects: make([]ObjectDoc, 0, len(p.Objects))}
	for _, o := range p.Objects {
		od := ObjectDoc{ObjectType: o.ObjectType, Actions: make([]ActionDoc, 0, len(o.Actions))}
		for _, a := range o.Actions {
			od.Actions = append(od.Actions, ActionDoc{ActionName: a.ActionName, Permission: string(a.Permission), Condition: a.Condition})
		}
		out.Objects = append(out.Objects, od)
	}
	return out
}

// EncodeRights returns rights as stored text.
func EncodeRights(p rolegate.Permissions) (string, error) {
	b, err := json.Marshal(DocOf(p))
	return string(b), err
}

// DecodeRights reads stored text EncodeRights wrote; "" is no rights. Fields
// it does not know are ignored, so that text a later version wrote still
// reads.
func DecodeRights(s string) (rolegate.Permissions, error) {
	if s == "" {
		return rolegate.Permissions{}, nil
	}
	var d PermissionsDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return rolegate.Permissions{}, fmt.Errorf("stored permissions: %w", err)
	}
	return RightsOf(d), nil
}

// EncodeAttributes returns a user's attributes as stored text: a JSON object,
// "{}" for none. Keys come sorted (encoding/json), so equal attributes are
// equal text.
func EncodeAttributes(attrs map[string]any) (string, error) {
	if len(attrs) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return "", fmt.Errorf("user attributes: %w", err)
	}
	return string(b), nil
}

// DecodeAttributes reads text EncodeAttributes wrote; "" and "{}" are none
// (nil). Numbers read back as float64, as condition.Normalize leaves them.
func DecodeAttributes(s string) (map[string]any, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("stored user attributes: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
