// Package engine answers checks in memory. It meets the service through two
// things only: a Loader, from which it reads an entity's compiled rules, and
// a Delta, what one committed write changed, which it applies to the policy
// it holds. It imports the domain (package rolegate), never the service.
//
// # Compilation
//
// A role's rights compile to Casbin p rules, an assignment to a g rule (see
// model.conf at the root); the output is sorted, so equal roles give equal
// rules:
//
//	p, r:<role_id>, <entity>, <object_type>, <action>, any|own, allow|deny
//	p, u:<user_id>, ...                                   a user's own rights
//	g, u:<user_id>, r:<role_id>, <entity>[, <expires_at_ms>]      entity-wide
//	g, s:<scope>|<user_id>, r:<role_id>, <entity>[, <expires_at_ms>] in scope
//
// not_allowed compiles to nothing; denied is a deny that beats any allow. A
// user's subject longer than a casbin_rule column (100 bytes) is stored as
// u#<sha256 of the id> or s#<sha256 of scope|id>: checks hash the same way,
// and the loader and each delta name the user behind every such subject
// (Policy.Hashed, Delta.Hashed) for the answers that list users.
//
// # Checks
//
// Each entity is loaded on first use into an immutable snapshot: one unit
// per subject (a role, or a user with own rights) holding its p rules by
// object type, and the g rules as user -> roles. A check gathers the units
// of the subjects the user holds (entity-wide, in the scope, not expired)
// for the object type and wildcards, and Casbin decides over those rules
// only; the deciding value and the explanation are read from the same
// rules (an oracle test keeps the two readings equal). A write installs a
// new snapshot sharing what it did not touch. Answers are cached per
// snapshot, within a global budget; cold entities are evicted. A check
// never allows on error.
package engine
