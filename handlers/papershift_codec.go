package handlers

import (
	"sort"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// Papershift's rights travel as groups of true keys,
// {"<group>": {"<action>": true, ...}, ...}, each true an allowed right.
// papershiftRightsOf and parsePapershiftRights turn them into the domain's
// rights and back.

// papershiftRights is Papershift's encoding: group (object type) -> action -> true.
type papershiftRights map[string]map[string]bool

// papershiftActions are the keys a Papershift rights group may hold; manage
// only in the team_membership group.
var papershiftActions = []string{"create", "read", "update", "delete", "manage"}

// papershiftCatalog is the groups of rights Papershift-style roles show when
// the deployment has no catalog of its own. Papershift documents the groups
// as "what the account's system roles hold" and names user and
// team_membership; Rolegate's list adds the resources of Papershift's API.
func papershiftCatalog() *policy.Catalog {
	crud := []string{"create", "read", "update", "delete"}
	var objects []policy.CatalogObject
	for _, g := range []string{"absence", "absence_type", "account", "evaluation", "location", "role", "shift",
		"tag", "team", "user", "working_area", "working_time"} {
		objects = append(objects, policy.CatalogObject{ObjectType: g, Actions: crud})
	}
	objects = append(objects, policy.CatalogObject{ObjectType: "team_membership", Actions: append(crud, "manage")})
	return mustCatalog(objects)
}

// papershiftShows: Papershift's rights are true keys of its own actions.
func papershiftShows(objectType string, a rolegate.ActionPermission) bool {
	return a.Permission == rolegate.Allowed && papershiftAction(objectType, a.ActionName)
}

// papershiftRightsOf encodes rights as Papershift groups: every allowed right
// is a true key. Rights of other values are left out.
func papershiftRightsOf(p rolegate.Permissions) papershiftRights {
	out := papershiftRights{}
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Permission != rolegate.Allowed {
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

// parsePapershiftRights decodes Papershift rights: each true key is an
// allowed action on its group; false keys are dropped, as Papershift stores
// only true values. Groups come out sorted and actions in Papershift's order,
// so that equal rights always compile the same way.
func parsePapershiftRights(field string, r papershiftRights) (rolegate.Permissions, error) {
	groups := make([]string, 0, len(r))
	for g := range r {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	out := rolegate.Permissions{}
	for _, g := range groups {
		if g == rolegate.Wildcard || !policy.ValidIdent(g) {
			return rolegate.Permissions{}, rolegate.Invalid("invalid_rights", field+"."+g, "%s: group %q must be an identifier such as user or shift", field, clipEcho(g))
		}
		for k := range r[g] {
			if !papershiftAction(g, k) {
				return rolegate.Permissions{}, rolegate.Invalid("invalid_rights", field+"."+g+"."+k,
					"%s.%s: %q is not a right; use create, read, update or delete (and manage in team_membership)", field, g, clipEcho(k))
			}
		}
		op := rolegate.ObjectPermissions{ObjectType: g}
		for _, k := range papershiftActions {
			if r[g][k] {
				op.Actions = append(op.Actions, rolegate.ActionPermission{ActionName: k, Permission: rolegate.Allowed})
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
	for _, k := range papershiftActions[:4] {
		if k == key {
			return true
		}
	}
	return false
}
