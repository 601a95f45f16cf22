package policy

import (
	"fmt"
	"sort"
	"strings"
)

// The codecs below are the encodings of rights that the compatible APIs speak.
// Each turns its encoding into Permissions and back; Permissions stay the one
// internal model, so a role written through any API reads back through all.
//
//	native and Monite  {"objects": [{"object_type", "actions": [{"action_name", "permission"}]}]}
//	Dintero            ["<action>:<object>[:<sub-resource>]", ...], each an allowed right
//	Papershift         {"<group>": {"<action>": true, ...}, ...}, each true an allowed right

// ---- native and Monite: objects and actions ----

// PermissionsDoc is rights as objects and actions, the encoding of the native
// API and of Monite.
type PermissionsDoc struct {
	Objects []ObjectDoc `json:"objects"`
}

// ObjectDoc is the rights on one object type.
type ObjectDoc struct {
	ObjectType string      `json:"object_type"`
	Actions    []ActionDoc `json:"actions"`
}

// ActionDoc is one right.
type ActionDoc struct {
	ActionName string `json:"action_name"`
	Permission string `json:"permission"`
}

// Permissions decodes the document. Values are checked by ValidatePermissions.
func (d PermissionsDoc) Permissions() Permissions {
	out := Permissions{}
	for _, o := range d.Objects {
		op := ObjectPermissions{ObjectType: o.ObjectType}
		for _, a := range o.Actions {
			op.Actions = append(op.Actions, ActionPermission{ActionName: a.ActionName, Permission: Permission(a.Permission)})
		}
		out.Objects = append(out.Objects, op)
	}
	return out
}

// DocOf encodes rights as objects and actions, as authored.
func DocOf(p Permissions) PermissionsDoc {
	out := PermissionsDoc{Objects: make([]ObjectDoc, 0, len(p.Objects))}
	for _, o := range p.Objects {
		od := ObjectDoc{ObjectType: o.ObjectType, Actions: make([]ActionDoc, 0, len(o.Actions))}
		for _, a := range o.Actions {
			od.Actions = append(od.Actions, ActionDoc{ActionName: a.ActionName, Permission: string(a.Permission)})
		}
		out.Objects = append(out.Objects, od)
	}
	return out
}

// MoniteCatalog is the object types and actions of Monite's role permissions;
// roles written through the Monite-style API are validated against it.
func MoniteCatalog() *Catalog {
	crud := []string{"create", "read", "update", "delete"}
	var objects []CatalogObject
	for _, t := range []string{"person", "onboarding", "comment", "counterpart", "entity_user", "entity",
		"entity_vat_ids", "counterpart_vat_id", "entity_bank_account", "export", "mailbox",
		"payables_purchase_order", "payment_reminder", "overdue_reminder", "product", "project",
		"receivable", "delivery_note", "ocr_task", "reconciliation", "role", "tag", "todo_task",
		"todo_task_mute", "transaction", "workflow", "approval_request", "approval_policy",
		"payment_record", "receipt", "accounting_tax_rate"} {
		objects = append(objects, CatalogObject{ObjectType: t, Actions: crud})
	}
	objects = append(objects, CatalogObject{ObjectType: "payable", Actions: []string{"create", "read", "update",
		"delete", "pay", "approve", "cancel", "submit", "create_from_mail", "reopen"}})
	c, err := NewCatalog(objects)
	if err != nil {
		panic(err) // the list above is fixed
	}
	return c
}

// MonitePermissionValues are the permission values Monite knows; Rolegate's
// "denied" is not one of them.
var MonitePermissionValues = []Permission{Allowed, AllowedForOwn, NotAllowed}

// ---- Dintero: scope strings ----

// ScopesOf encodes rights as Dintero scope strings, "<action>:<object type>",
// one per allowed right, in the order the rights were authored. Rights of
// other values have no scope string and are left out.
func ScopesOf(p Permissions) []string {
	out := []string{}
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Permission == Allowed {
				out = append(out, a.ActionName+":"+o.ObjectType)
			}
		}
	}
	return out
}

// ParseScopes decodes Dintero scope strings "<action>:<object>[:<tail>]":
// action <action> allowed on object type "<object>[:<tail>]". Dintero's
// published scopes all put the action first; a two-part string whose first
// part is no Dintero action word and whose second is one (receipts:write, in
// one of Dintero's examples) is read the other way round, as
// <object>:<action>. Each string becomes its own entry, so ScopesOf gives the
// same strings back in the same order (receipts:write as write:receipts). A malformed string is 422 invalid_scope naming it; repeated strings
// are caught by ValidatePermissions.
func ParseScopes(field string, scopes []string) (Permissions, error) {
	out := Permissions{Objects: make([]ObjectPermissions, 0, len(scopes))}
	for i, s := range scopes {
		action, object, ok := strings.Cut(s, ":")
		if ok && !strings.Contains(object, ":") && !isDinteroAction(action) && isDinteroAction(object) {
			// "<resource>:<action>", as the seed's user scope receipts:write:
			// the same right as write:receipts, which it reads back as.
			action, object = object, action
		}
		if !ok || !ValidIdent(action) || !ValidObjectType(object) {
			e := Invalid("invalid_scope", fmt.Sprintf("%s[%d]", field, i),
				"%s[%d] must be <action>:<object>[:<sub-resource>], such as read:accounts", field, i)
			e.Details[0].Value = clip(s)
			return Permissions{}, e
		}
		out.Objects = append(out.Objects, ObjectPermissions{ObjectType: object,
			Actions: []ActionPermission{{ActionName: action, Permission: Allowed}}})
	}
	return out, nil
}

// ---- Papershift: groups of true rights ----

// Rights is Papershift's encoding: group (object type) -> action -> true.
type Rights map[string]map[string]bool

// PapershiftActions are the keys a Papershift rights group may hold; manage
// only in the team_membership group.
var PapershiftActions = []string{"create", "read", "update", "delete", "manage"}

// RightsOf encodes rights as Papershift groups: every allowed right is a true
// key. Rights of other values are left out.
func RightsOf(p Permissions) Rights {
	out := Rights{}
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Permission != Allowed {
				continue
			}
			if out[o.ObjectType] == nil {
				out[o.ObjectType] = map[string]bool{}
			}
			out[o.ObjectType][a.ActionName] = true
		}
	}
	return out
}

// ParseRights decodes Papershift rights: each true key is an allowed action
// on its group; false keys are dropped, as Papershift stores only true values.
// Groups come out sorted and actions in Papershift's order, so that equal
// rights always compile the same way.
func ParseRights(field string, r Rights) (Permissions, error) {
	groups := make([]string, 0, len(r))
	for g := range r {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	out := Permissions{}
	for _, g := range groups {
		if !identRe.MatchString(g) {
			return Permissions{}, Invalid("invalid_rights", field+"."+g, "%s: group %q must be an identifier such as user or shift", field, clip(g))
		}
		for k := range r[g] {
			if !papershiftAction(g, k) {
				return Permissions{}, Invalid("invalid_rights", field+"."+g+"."+k,
					"%s.%s: %q is not a right; use create, read, update or delete (and manage in team_membership)", field, g, clip(k))
			}
		}
		op := ObjectPermissions{ObjectType: g}
		for _, k := range PapershiftActions {
			if r[g][k] {
				op.Actions = append(op.Actions, ActionPermission{ActionName: k, Permission: Allowed})
			}
		}
		if len(op.Actions) > 0 {
			out.Objects = append(out.Objects, op)
		}
	}
	return out, nil
}

func papershiftAction(group, key string) bool {
	if key == "manage" {
		return group == "team_membership"
	}
	for _, k := range PapershiftActions[:4] {
		if k == key {
			return true
		}
	}
	return false
}

func isDinteroAction(s string) bool {
	for _, a := range DinteroActions {
		if a == s {
			return true
		}
	}
	return false
}
