package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// File formats of the role templates and the object-type catalog. Rights in
// the templates are the canonical encoding, PermissionsDoc.

// ParseTemplates reads role templates:
//
//	{"roles": [{"name": "admin", "description": "...", "default": false,
//	            "permissions": {"objects": [{"object_type": "*", "actions": [
//	                {"action_name": "*", "permission": "allowed"}]}]}}]}
func ParseTemplates(data []byte, catalog *Catalog) ([]RoleTemplate, error) {
	var f struct {
		Roles []struct {
			Name        string         `json:"name"`
			Description string         `json:"description"`
			Default     bool           `json:"default"`
			Permissions PermissionsDoc `json:"permissions"`
		} `json:"roles"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("role templates: %w", err)
	}
	var out []RoleTemplate
	for _, r := range f.Roles {
		out = append(out, RoleTemplate{Name: r.Name, Description: r.Description, Default: r.Default,
			Permissions: RightsOf(r.Permissions)})
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
