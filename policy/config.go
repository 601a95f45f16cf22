package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// File formats of the role templates and the object-type catalog.

type permissionsFile struct {
	Objects []struct {
		ObjectType string `json:"object_type"`
		Actions    []struct {
			ActionName string `json:"action_name"`
			Permission string `json:"permission"`
		} `json:"actions"`
	} `json:"objects"`
}

// ParseTemplates reads role templates:
//
//	{"roles": [{"name": "admin", "description": "...", "default": false,
//	            "permissions": {"objects": [{"object_type": "*", "actions": [
//	                {"action_name": "*", "permission": "allowed"}]}]}}]}
func ParseTemplates(data []byte, catalog *Catalog) ([]RoleTemplate, error) {
	var f struct {
		Roles []struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Default     bool            `json:"default"`
			Permissions permissionsFile `json:"permissions"`
		} `json:"roles"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("role templates: %w", err)
	}
	var out []RoleTemplate
	for _, r := range f.Roles {
		t := RoleTemplate{Name: r.Name, Description: r.Description, Default: r.Default}
		for _, o := range r.Permissions.Objects {
			op := ObjectPermissions{ObjectType: o.ObjectType}
			for _, a := range o.Actions {
				op.Actions = append(op.Actions, ActionPermission{ActionName: a.ActionName, Permission: Permission(a.Permission)})
			}
			t.Permissions.Objects = append(t.Permissions.Objects, op)
		}
		out = append(out, t)
	}
	if err := ValidateTemplates(out, catalog); err != nil {
		return nil, fmt.Errorf("role templates: %w", err)
	}
	return out, nil
}

// ParseCatalog reads an object-type catalog:
//
//	{"object_types": [{"object_type": "payable", "actions": ["read", "approve"]}]}
func ParseCatalog(data []byte) (*Catalog, error) {
	var f struct {
		ObjectTypes []CatalogObject `json:"object_types"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if len(f.ObjectTypes) == 0 {
		return nil, fmt.Errorf("catalog: no object types listed")
	}
	return NewCatalog(f.ObjectTypes)
}
