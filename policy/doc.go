// Package policy is Rolegate's service: entities, roles, users, assignments
// and checks, the Service every caller goes through. Checks are answered by
// package engine, which the Service tells of each committed write (a Delta).
//
// # The model
//
// An entity is a tenant; every role, user, assignment and check belongs to exactly
// one. A role is a named set of rights in one entity. A right is a triple
// (object type, action, permission value) where the object type and the action are
// identifiers (^[a-z][a-z0-9_]{0,63}$) or "*" for every one, and the value is one of
//
//	allowed          the action is allowed
//	allowed_for_own  allowed only on objects whose owner is the user asking
//	not_allowed      the default; kept on the role, compiles to nothing
//	denied           an explicit deny: beats any allow from any other role
//
// A user holds roles through assignments, entity-wide or inside a sub-scope such
// as "team:42"; a scoped assignment counts only in checks that carry that scope.
//
// A right other than not_allowed may carry a condition, a CEL expression over
// the check's resource attributes, the user's stored attributes and the time
// (package condition): an allow counts only when it is true, a deny applies
// when it is true or cannot be evaluated. Conditions are compiled when rights
// are written (422 invalid_condition); attributes are checked by
// condition.Normalize (422 invalid_attributes).
//
// # Writes and checks
//
// Roles, users' own rights and assignments compile to Casbin rules
// (engine.Compile), written in the same transaction as the rows they come
// from, with the sources of the conditions the rules name by hash
// (Tx.PutConditions); the engine's policy changes only after that
// transaction commits, by the write's Delta (which carries those sources,
// and users' attributes when they change). A check never allows on error.
//
// # Where each thing lives
//
// The Service (what callers use) by capability:
//
//	service.go        Service, Config, NewService; write: the one transaction every write runs in
//	caller.go         auth's auth.Actor and scopes under their old names; actorOf
//	authorize.go      reserved object types; authorize: what a caller may do
//	entities.go       entities; role templates (the system roles a new entity gets)
//	roles.go          roles: create, read, list, update, delete, their users
//	users.go          users: create, read, list, update, delete
//	assignments.go    assigning roles to users (entity-wide, scoped, expiring)
//	checks.go         CheckRequest; Service.Check, CheckBatch, UserPermissions
//	minrev.go         a check's min_revision
//	whocan.go         who may do an action
//	report.go         the access report
//	dryrun.go         dry runs: a write rolled back, the rights it would change
//	conditions.go     rights' conditions checked and stored; attributes normalized
//	delegation.go     nobody gives a right they do not hold (users as callers)
//	expiry.go         expiring assignments: their bounds and their sweep
//	import.go         the bulk import of users
//	quota.go          what one entity may hold
//	audit.go          the audit log
//	changelog.go      the change log (a write's Delta under its revision)
//	feed.go           the changes feed; feeditems.go: what a write touched
//	clients.go        API clients: create, read, list, delete (package auth has the rest)
//	sync.go           keeping instances in step (Syncer)
//	doctor.go         finding and repairing rules that drifted from their rows
//
// The model and its encodings:
//
//	validate.go       names, identifiers, rights
//	config.go         file formats of role templates and the object-type catalog
//	rights.go         the canonical JSON encoding of rights (stored and native)
//	store.go          Store and Tx: the persistence adapters implement
//	recorder.go       the Tx a write gets: records its engine.Delta and what it touched
//	rules.go          ruleKey, diffRules: comparing rule sets (the doctor)
package policy
