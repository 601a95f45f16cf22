package handlers

import (
	"fmt"
	"strings"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// Dintero's rights travel as scope strings, "<action>:<object>[:<sub-resource>]",
// each an allowed right. dinteroScopesOf and parseDinteroScopes turn them into
// the domain's rights and back.

// dinteroCatalog is the resources and actions of Dintero's published scopes
// (docs.dintero.com "Available scopes": admin:<resource>, write:<resource>,
// read:<resource>, and on some resources create, public and user; billing
// from the seed's read:billing). Dintero's "*:*" is shown as these scopes
// when the deployment has no catalog of its own.
func dinteroCatalog() *policy.Catalog {
	awr := []string{"admin", "write", "read"}
	return mustCatalog([]policy.CatalogObject{
		{ObjectType: "accounts", Actions: []string{"admin", "write", "read", "create"}},
		{ObjectType: "automations", Actions: awr},
		{ObjectType: "billing", Actions: awr},
		{ObjectType: "checkout", Actions: awr},
		{ObjectType: "customers", Actions: []string{"admin", "write", "read", "create", "public", "user"}},
		{ObjectType: "discounts", Actions: []string{"admin", "write", "read", "public", "user"}},
		{ObjectType: "hooks", Actions: awr},
		{ObjectType: "locations", Actions: awr},
		{ObjectType: "receipts", Actions: []string{"admin", "write", "read", "user"}},
		{ObjectType: "shopping", Actions: awr},
		{ObjectType: "wallets", Actions: awr},
	})
}

// dinteroActions are the action words of Dintero's scope strings.
var dinteroActions = []string{"admin", "write", "read", "create", "public", "user"}

// dinteroShows: Dintero's scope strings are allowed rights.
func dinteroShows(_ string, a rolegate.ActionPermission) bool {
	return a.Permission == rolegate.Allowed
}

// dinteroScopesOf encodes rights as Dintero scope strings,
// "<action>:<object type>", one per allowed right, in the order the rights
// were authored. Rights of other values have no scope string and are left
// out.
func dinteroScopesOf(p rolegate.Permissions) []string {
	out := []string{}
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Permission == rolegate.Allowed {
				out = append(out, a.ActionName+":"+o.ObjectType)
			}
		}
	}
	return out
}

// parseDinteroScopes decodes Dintero scope strings "<action>:<object>[:<tail>]":
// action <action> allowed on object type "<object>[:<tail>]". Dintero's
// published scopes all put the action first; a two-part string whose first
// part is no Dintero action word and whose second is one (receipts:write, in
// one of Dintero's examples) is read the other way round, as
// <object>:<action>. Each string becomes its own entry, so dinteroScopesOf
// gives the same strings back in the same order (receipts:write as
// write:receipts). A malformed string is 422 invalid_scope naming it;
// repeated strings are caught by policy.ValidatePermissions.
func parseDinteroScopes(field string, scopes []string) (rolegate.Permissions, error) {
	out := rolegate.Permissions{Objects: make([]rolegate.ObjectPermissions, 0, len(scopes))}
	for i, s := range scopes {
		action, object, ok := strings.Cut(s, ":")
		if ok && !strings.Contains(object, ":") && !isDinteroAction(action) && isDinteroAction(object) {
			// "<resource>:<action>", as the seed's user scope receipts:write:
			// the same right as write:receipts, which it reads back as.
			action, object = object, action
		}
		if !ok || !policy.ValidIdent(action) || !policy.ValidObjectType(object) {
			e := rolegate.Invalid("invalid_scope", fmt.Sprintf("%s[%d]", field, i),
				"%s[%d] must be <action>:<object>[:<sub-resource>], such as read:accounts", field, i)
			e.Details[0].Value = clipEcho(s)
			return rolegate.Permissions{}, e
		}
		out.Objects = append(out.Objects, rolegate.ObjectPermissions{ObjectType: object,
			Actions: []rolegate.ActionPermission{{ActionName: action, Permission: rolegate.Allowed}}})
	}
	return out, nil
}

func isDinteroAction(s string) bool {
	for _, a := range dinteroActions {
		if a == s {
			return true
		}
	}
	return false
}

// clipEcho shortens a value echoed back in an error, as policy's errors do.
func clipEcho(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
