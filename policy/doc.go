// Package policy is Rolegate's domain: entities, roles, users, assignments and
// checks, the compiler that turns roles into Casbin rules, the engine that answers
// checks, and the Service every caller goes through.
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
// # Compilation
//
// Compile turns a role into Casbin policy rules (see model.conf at the root):
//
//	p, r:<role_id>, <entity>, <object_type>, <action>, any|own, allow|deny
//
// and an assignment into a grouping rule:
//
//	g, u:<user_id>, r:<role_id>, <entity>                 entity-wide
//	g, s:<scope>|<user_id>, r:<role_id>, <entity>         inside scope
//
// A user's own rights (granted without a role) compile like a role's, with the
// subject u:<user_id>. The output is sorted, so equal roles give equal rules.
// Rules are written in the same database transaction as the rows they come from;
// the in-memory enforcers change only after that transaction commits.
//
// # Checks
//
// The Engine keeps each entity's Casbin enforcers (one per shard of about 64
// rules, grouped by object type) and a bounded cache of their decisions,
// loaded on first use from that entity's rules only and evicted when cold,
// so a check costs what one entity's policy costs. A check never allows on
// error.
//
// # Where each thing lives
//
// The Service (what callers use) by capability:
//
//	service.go        Service, Config, NewService; write: the one transaction every write runs in
//	caller.go         auth's Actor and scopes under their old names; actorOf
//	authorize.go      reserved object types; authorize: what a caller may do
//	entities.go       entities; role templates (the system roles a new entity gets)
//	roles.go          roles: create, read, list, update, delete, their users
//	users.go          users: create, read, list, update, delete
//	assignments.go    assigning roles to users (entity-wide, scoped, expiring)
//	checks.go         CheckRequest, Decision; Service.Check, CheckBatch, UserPermissions
//	minrev.go         a check's min_revision
//	whocan.go         who may do an action (Service and Engine)
//	report.go         the access report
//	dryrun.go         dry runs: a write rolled back, the rights it would change
//	delegation.go     nobody gives a right they do not hold (users as callers)
//	expiry.go         expiring assignments and their sweep
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
//	types.go          Permission, Permissions, Role, Entity, User, Assignment, Rule
//	errors.go         error kinds (each one HTTP status) and codes
//	validate.go       names, identifiers, rights
//	compile.go        roles and assignments to Casbin rules; ruleKey, diffRules
//	config.go         file formats of role templates and the object-type catalog
//	rights.go         the canonical JSON encoding of rights (stored and native)
//	store.go          Store and Tx: the persistence adapters implement
//	recorder.go       the Tx a write gets: records its Delta and what it touched
//	delta.go          Delta, and applying one to a snapshot
//
// The Engine (checks in memory):
//
//	engine.go         Engine, EngineConfig, NewEngine; entity slots: load, hold, evict
//	entitymap.go      the sharded map of held entities
//	unknown.go        entities known not to exist
//	snapshot.go       an entity's immutable snapshot: units, links, build
//	decide.go         answering a check over a snapshot (Casbin deciders)
//	decisioncache.go  the bounded cache of decisions
//	refresh.go        following writes: Apply a Delta, Refresh, catch up
//	grantindex.go     which subjects name an object type, who holds a role
//	explain.go        explaining a refusal (denied by, grantable by)
//	effective.go      a user's effective rights (Right, Effective)
//	pmap.go           the copy-on-write map snapshots are built of
package policy
