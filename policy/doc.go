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
package policy
