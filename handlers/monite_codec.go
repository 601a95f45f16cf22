package handlers

import (
	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// Monite's rights travel in the canonical encoding of rights,
// policy.PermissionsDoc ({"objects": [{"object_type", "actions":
// [{"action_name", "permission"}]}]}), restricted to Monite's catalog of
// object types and actions and to Monite's permission values.

// moniteCatalog is the object types and actions of Monite's role permissions;
// roles written through the Monite-style API are validated against it, and
// wildcards are shown as its pairs.
func moniteCatalog() *policy.Catalog {
	crud := []string{"create", "read", "update", "delete"}
	var objects []policy.CatalogObject
	for _, t := range []string{"person", "onboarding", "comment", "counterpart", "entity_user", "entity",
		"entity_vat_ids", "counterpart_vat_id", "entity_bank_account", "export", "mailbox",
		"payables_purchase_order", "payment_reminder", "overdue_reminder", "product", "project",
		"receivable", "delivery_note", "ocr_task", "reconciliation", "role", "tag", "todo_task",
		"todo_task_mute", "transaction", "workflow", "approval_request", "approval_policy",
		"payment_record", "receipt", "accounting_tax_rate"} {
		objects = append(objects, policy.CatalogObject{ObjectType: t, Actions: crud})
	}
	objects = append(objects, policy.CatalogObject{ObjectType: "payable", Actions: []string{"create", "read", "update",
		"delete", "pay", "approve", "cancel", "submit", "create_from_mail", "reopen"}})
	return mustCatalog(objects)
}

// monitePermissionValues are the permission values Monite knows; Rolegate's
// "denied" is not one of them.
var monitePermissionValues = []rolegate.Permission{rolegate.Allowed, rolegate.AllowedForOwn, rolegate.NotAllowed}

// moniteShows: Monite's three permission values on Monite's object types.
func moniteShows(catalog *policy.Catalog) shownFunc {
	return func(objectType string, a rolegate.ActionPermission) bool {
		if a.Permission == rolegate.Denied {
			return false
		}
		obj, act := catalog.Has(objectType, a.ActionName)
		return obj && act
	}
}

// mustCatalog indexes a facade's fixed catalog.
func mustCatalog(objects []policy.CatalogObject) *policy.Catalog {
	c, err := policy.NewCatalog(objects)
	if err != nil {
		panic(err) // the lists are fixed
	}
	return c
}
